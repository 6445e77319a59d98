"""The masked-reconstruction training loop: start or resume a run, fit with
checkpoints, then leave the final model, figure and summary in the run folder.

A run folder holds:

    config.yaml            the resolved configuration (preset + --set + demo)
    checkpoints/latest     name of the newest complete checkpoint folder
    checkpoints/epoch-NNNNN/{model.keras, state.json}   written atomically
    best.weights.h5        weights of the best validation loss so far
    history.csv            one row per epoch (CSVLogger)
    tensorboard/           TensorBoard logs
    learning_curves.png    loss / RMSE / R2 per epoch
    model.keras            the final Pretrainer (best weights)
    backbone.weights.h5    its backbone's weights
    summary.json           final numbers and timings

Random windows and probe masks depend only on (seed, epoch, light curve), and
the dropout generators' states are saved, so a resumed run continues the
same sequence.
"""

import os
import time

import numpy as np

from astromer.data.datasets import TooFewLightCurves
from astromer.saving import load_keras
from astromer.training.callbacks import HistoryLogger, ResumableEarlyStopping, Throughput
from astromer.training.checkpoints import (TrainingCheckpoint, latest_checkpoint, restore_seed_states,
                                           write_json_atomically)
from astromer.training.data import make_inputs
from astromer.training.evaluation import evaluate_masked
from astromer.training.model import build_pretrainer, make_optimizer
from astromer.training.plots import learning_curves
from astromer.training.settings import ConfigError, write_config
from astromer.training.strategy import keras_backend, make_strategy, strategy_scope, tensorflow_available


def pretrain(config, data, out_dir, resume=False, strategy_kind="auto", verbose=1,
             input_path="auto", initial_model=None, deterministic=False):
    """Runs (or resumes) masked-reconstruction training. Returns a summary dict.

    Args:
        config: resolved configuration (see `resolve_config`).
        data: `TrainingData` (see `prepare_data`).
        out_dir: run folder.
        resume: continue from the newest checkpoint in `out_dir`.
        initial_model: a `Pretrainer` to start from (finetuning); else the
            model is built from `config["model"]`.
        deterministic: TensorFlow op determinism, for bitwise-identical
            reruns on GPUs. Keras then trains without XLA (it refuses
            `jit_compile` under op determinism): 15-25% slower on CPU.
            Off, runs still repeat within float rounding (XLA on CPU).
    """
    import keras

    settings = config["pretraining"]
    seed = int(settings.get("seed", 0))
    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    if deterministic and keras_backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    checkpoint = latest_checkpoint(out_dir) if resume else None
    if resume and checkpoint is None:
        print(f"no checkpoint in {out_dir}: starting from epoch 1")
    strategy, replicas = make_strategy(strategy_kind)
    batch_size = int(settings["batch_size"]) * replicas
    epochs = int(settings["epochs"])
    with strategy_scope(strategy):
        if checkpoint is not None:
            folder, state = checkpoint
            model = load_keras(os.path.join(folder, "model.keras"))
            restore_seed_states(model, state)
            initial_epoch = int(state["epoch"])
            print(f"resuming {out_dir} after epoch {initial_epoch} (best val_loss {state['best']:.5f})")
        else:
            state = {"best": np.inf, "best_epoch": -1, "early_stopping_wait": 0}
            model = initial_model if initial_model is not None else build_pretrainer(config)
            # XLA: about 30% faster on CPU than TF's graph executor (and what
            # JAX always does). PyTorch: each step one traced, compiled graph
            # (astromer.models.torch_graph).
            # Under TensorFlow op determinism Keras refuses XLA (and warns):
            # ask for what it will do.
            model.compile(make_optimizer(settings),
                          jit_compile=not (deterministic and keras_backend() == "tensorflow"))
            initial_epoch = 0
    write_config(config, os.path.join(out_dir, "config.yaml"))
    if initial_epoch >= epochs:
        print(f"{out_dir} already finished its {epochs} epochs")
    try:
        train, val, steps, val_steps = make_inputs(data, config, model, batch_size, epochs, initial_epoch, strategy)
    except TooFewLightCurves as error:
        raise ConfigError(f"The training split: {error} Set pretraining.batch_size (--set "
                          f"pretraining.batch_size=N) to at most the number of training light curves, or give "
                          "more light curves.") from None

    early = ResumableEarlyStopping(settings.get("patience", 20), state["early_stopping_wait"], state["best"])
    callbacks = [
        Throughput(batch_size),
        TrainingCheckpoint(out_dir, early_stopping=early, best=state["best"], best_epoch=state["best_epoch"]),
        HistoryLogger(os.path.join(out_dir, "history.csv"), append=initial_epoch > 0),
        early,
    ]
    if tensorflow_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard")))
    if verbose:
        print(f"training {model.backbone.__class__.__name__} ({parameter_count(model)}) on "
              f"{data.description}; batch {batch_size} ({replicas} replica(s)), up to {epochs} epochs; run folder {out_dir}")
    start = time.time()
    if initial_epoch < epochs:
        # shuffle=False: the input pipelines draw and shuffle windows
        # themselves (Keras would only warn that it ignores the default).
        model.fit(train, validation_data=val, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                  steps_per_epoch=steps, validation_steps=val_steps, callbacks=callbacks, verbose=verbose)
    elapsed = time.time() - start
    return finish_run(model, out_dir, elapsed, data, config, batch_size)


def parameter_count(model):
    """The parameters as the papers count them; Astromer 2's trainable mask
    token (one scalar, not in the paper's 3,953,409) named apart."""
    token = sum(int(np.prod(w.shape)) for layer in model.backbone.layers if layer.name == "mask_token"
                for w in layer.weights)
    text = f"{model.count_params() - token:,} parameters"
    return text + (f" + {token} mask token" if token else "")


def finish_run(model, out_dir, elapsed, data, config, batch_size=256):
    """Restores the best weights, saves the final model, plots, writes the
    summary (with the held-out test metrics when there is a test split)."""
    import pandas as pd

    best = os.path.join(out_dir, "best.weights.h5")
    if os.path.exists(best):
        model.load_weights(best)
    model.save(os.path.join(out_dir, "model.keras"))
    model.backbone.save_weights(os.path.join(out_dir, "backbone.weights.h5"))
    history = pd.read_csv(os.path.join(out_dir, "history.csv"))
    learning_curves(history.to_dict("list"), os.path.join(out_dir, "learning_curves.png"),
                    title=f"{config.get('name', 'astromer')} pretraining")
    summary = {
        "epochs_run": int(len(history)),
        "best_epoch": int(history.loc[history["val_loss"].idxmin(), "epoch"]) if "val_loss" in history else None,
        "best_val_loss": float(history["val_loss"].min()) if "val_loss" in history else None,
        "final": {k: float(v) for k, v in history.iloc[-1].items() if k != "epoch"},
        "seconds_this_session": round(elapsed, 1),
        "train_windows_per_s": float(history["windows_per_s"].iloc[-1]) if "windows_per_s" in history else None,
        # Whether the step was compiled (XLA; PyTorch: one Inductor graph);
        # off under TF op determinism.
        "xla": bool(getattr(model, "jit_compile", False)),
        "data": data.description,
    }
    if data.test is not None:
        summary["test"] = evaluate_masked(model, data.test, config, batch_size)
    write_json_atomically(os.path.join(out_dir, "summary.json"), summary)
    return summary
