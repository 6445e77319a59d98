"""Reconstruction scores of a model on a held-out split: the masked
(probed) metrics training reports, and the all-observation metrics that
compare a model before and after finetuning."""

import warnings

from astromer.training.data import held_out_data


def _evaluate(model, dataset):
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
    result = _evaluate(model, held_out_data(model, split, config, batch_size, "eval"))
    return {k: float(result[k]) for k in ("loss", "rmse", "r2")}


def evaluate_reconstruction(model, split, config, batch_size=256):
    """RMSE and R2 of the reconstruction on ALL observations of every
    sequential window, without masking (Astromer 2 paper, Sect. 5.2: the
    probed subset is random, so finetuning is compared on all points)."""
    result = _evaluate(model, held_out_data(model, split, config, batch_size, "inference"))
    return {"rmse": float(result["rmse"]), "r2": float(result["r2"])}
