"""Reconstruction scores of a model on a held-out split, each named by the
steps it is computed on:

- **hidden steps** (`evaluate_hidden`): the probes whose magnitude the model
  never sees (replaced and excluded from attention, paper masks, one fixed
  random window and mask draw per light curve). The one number that says
  how well a model predicts what it cannot read; `astromer-finetune`
  reports it first.
- **probed steps** (`evaluate_masked`): the training objective's steps
  (hidden + random + unchanged probes; the model sees the last two), what
  `fit` logs as `rmse` / `r2`.
- **all observations** (`evaluate_reconstruction`): every observation, no
  masking (A2 paper, Sect. 5.2): mostly how well the model copies its input.
"""

import warnings

from astromer.preprocessing.pretraining import PretrainingPreprocessor
from astromer.preprocessing.pretraining_data import held_out


def held_out_data(model, split, config, batch_size, mode):
    """`split` (packed light curves or a TFRecord folder) as `model`'s
    windows of the run's pretraining preprocessing in `mode` ("eval" or
    "inference")."""
    return held_out(split, PretrainingPreprocessor.from_preset(config, model.backbone), batch_size, mode)


def evaluate_dataset(model, dataset):
    """`model.evaluate`'s logs (a dict) on a held-out dataset read once."""
    # A held-out split is read once to its end, and its number of batches is
    # unknown to Keras (ragged light curves become windows inside the
    # pipeline), so Keras warns that the input "ran out of data" after the
    # last batch: expected here, not a problem to report.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        return model.evaluate(dataset, verbose=0, return_dict=True)


def evaluate_masked(model, split, config, batch_size):
    """Masked-reconstruction loss, RMSE and R2 on the probed steps of a
    held-out split: one random window per light curve with its probe masks,
    the same for every model and run with the same seed (epoch 0 draws)."""
    result = evaluate_dataset(model, held_out_data(model, split, config, batch_size, "eval"))
    return {k: float(result[k]) for k in ("loss", "rmse", "r2")}


def evaluate_reconstruction(model, split, config, batch_size=256):
    """RMSE and R2 of the reconstruction on ALL observations of every
    sequential window, without masking (Astromer 2 paper, Sect. 5.2: the
    probed subset is random, so finetuning is compared on all points)."""
    result = evaluate_dataset(model, held_out_data(model, split, config, batch_size, "inference"))
    return {"rmse": float(result["rmse"]), "r2": float(result["r2"])}


def evaluate_hidden(model, split, config, batch_size):
    """RMSE and R2 on the hidden steps of a held-out split (the "eval"
    windows and probe masks, the same for every model with the same seed),
    with the training metrics' definitions (`masked_rmse`, `masked_r2`)."""
    import keras
    import numpy as np

    from astromer.losses import masked_r2, masked_rmse

    truth, predicted, hidden = [], [], []
    for x, y, *_ in _batches(held_out_data(model, split, config, batch_size, "eval")):
        predicted.append(keras.ops.convert_to_numpy(model(x, training=False)))
        truth.append(np.asarray(y["magnitudes"]))
        hidden.append(np.asarray(x["hidden_mask"]))
    truth, predicted, hidden = (np.concatenate(a) for a in (truth, predicted, hidden))
    return {"rmse": float(keras.ops.convert_to_numpy(masked_rmse(truth, predicted, hidden))),
            "r2": float(keras.ops.convert_to_numpy(masked_r2(truth, predicted, hidden))),
            "hidden_steps": int(hidden.sum())}


def _batches(dataset):
    """The batches of a held-out dataset: a `keras.utils.PyDataset` (NumPy
    path) by index, a `tf.data.Dataset` by iteration."""
    import keras

    if isinstance(dataset, keras.utils.PyDataset):
        return (dataset[i] for i in range(len(dataset)))
    return iter(dataset)
