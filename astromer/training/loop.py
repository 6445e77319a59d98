"""The masked-reconstruction training loop: start or resume a run, fit with
checkpoints, then leave the final model, figure and summary in the run folder.

A run folder holds:

    config.yaml            the resolved configuration (preset + --set + demo)
    checkpoints/latest     name of the newest complete checkpoint folder
    checkpoints/epoch-NNNNN/{model.keras, state.json}   written atomically (the newest two)
    best.weights.h5        weights of the best validation loss so far
    history.csv            one row per epoch (those of the checkpoint, then one per epoch)
    tensorboard/           TensorBoard logs
    learning_curves.png    loss / RMSE / R2 per epoch
    model.keras            the final Pretrainer (best weights)
    backbone.weights.h5    its backbone's weights
    summary.json           final numbers and timings

Random windows, the light-curve order and probe masks depend only on (seed,
epoch, light curve), and the dropout generators' states are saved, so a
resumed run continues the same sequence. The epoch counter, the history
rows, the early-stopping counter and the dropout states all come from the
one checkpoint resumed from (see `astromer.training.checkpoints`): history.csv
is rewritten from it, so that it holds every epoch once.
"""

import os
import time

import numpy as np

from astromer.data.datasets import TooFewLightCurves
from astromer.saving import load_keras
from astromer.training.callbacks import (HistoryLogger, ResumableEarlyStopping, Throughput, resumed_history,
                                         write_history)
from astromer.training.checkpoints import (TrainingCheckpoint, check_best_weights, clear_checkpoints,
                                           resume_checkpoint, write_json_atomically)
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

    if not resume:
        clear_checkpoints(out_dir)
    strategy, replicas = make_strategy(strategy_kind)
    batch_size = int(settings["batch_size"]) * replicas
    epochs = int(settings["epochs"])
    history_path = os.path.join(out_dir, "history.csv")
    with strategy_scope(strategy):
        # The newest usable checkpoint, checked and loaded (damaged ones are
        # skipped with a line saying why; none usable: WeightsError).
        checkpoint = resume_checkpoint(out_dir, load=load_keras) if resume else None
        if resume and checkpoint is None:
            print(f"no checkpoint in {out_dir}: starting from epoch 1")
        if checkpoint is not None:
            folder, state, model = checkpoint
            state = check_best_weights(out_dir, state, model)
            initial_epoch = int(state["epoch"])
            rows = resumed_history(state, history_path)
            write_history(history_path, rows)
            print(f"resuming {out_dir} after epoch {initial_epoch} (checkpoint {os.path.basename(folder)}, "
                  f"best val_loss {float(state['best']):.5f})")
        else:
            folder, rows = None, []
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
    stopped = bool(state.get("stopped_early"))
    if stopped:
        print(f"{out_dir} stopped early after epoch {initial_epoch} (no val_loss improvement in "
              f"{state['early_stopping_wait']} epochs)")
    elif initial_epoch >= epochs:
        print(f"{out_dir} already finished its {epochs} epochs")
    try:
        train, val, steps, val_steps = make_inputs(data, config, model, batch_size, epochs, initial_epoch, strategy)
    except TooFewLightCurves as error:
        raise ConfigError(f"The training split: {error} Set pretraining.batch_size (--set "
                          f"pretraining.batch_size=N) to at most the number of training light curves, or give "
                          "more light curves.") from None

    early_best = state.get("early_stopping_best")
    early = ResumableEarlyStopping(settings.get("patience", 20), state["early_stopping_wait"],
                                   state["best"] if early_best is None else early_best)
    checkpoints = TrainingCheckpoint(out_dir, early_stopping=early, best=state["best"], best_epoch=state["best_epoch"],
                                     history=rows, resumed_from=folder and os.path.basename(folder))
    # Order matters: the throughput goes into the logs, early stopping
    # counts the epoch, then the checkpoint saves all of it.
    callbacks = [Throughput(batch_size), early, checkpoints, HistoryLogger(history_path, rows)]
    if tensorflow_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard")))
    if verbose:
        print(f"training {model.backbone.__class__.__name__} ({parameter_count(model)}) on "
              f"{data.description}; batch {batch_size} ({replicas} replica(s)), up to {epochs} epochs; run folder {out_dir}")
    start = time.time()
    if initial_epoch < epochs and not stopped:
        # shuffle=False: the input pipelines draw and shuffle windows
        # themselves (Keras would only warn that it ignores the default).
        model.fit(train, validation_data=val, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                  steps_per_epoch=steps, validation_steps=val_steps, callbacks=callbacks, verbose=verbose)
    elapsed = time.time() - start
    return finish_run(model, out_dir, elapsed, data, config, batch_size, best_epoch=checkpoints.best_epoch)


def parameter_count(model):
    """The parameters as the papers count them; Astromer 2's trainable mask
    token (one scalar, not in the paper's 3,953,409) named apart."""
    token = sum(int(np.prod(w.shape)) for layer in model.backbone.layers if layer.name == "mask_token"
                for w in layer.weights)
    text = f"{model.count_params() - token:,} parameters"
    return text + (f" + {token} mask token" if token else "")


def finish_run(model, out_dir, elapsed, data, config, batch_size=256, best_epoch=None):
    """Restores the best weights, saves the final model, plots, writes the
    summary (with the held-out test metrics when there is a test split).

    `best_epoch`: the epoch whose weights best.weights.h5 holds (it differs
    from the lowest val_loss of history.csv only when a damaged
    best.weights.h5 made a resumed run restart its best tracking); default
    the epoch of the lowest val_loss."""
    import pandas as pd

    best = os.path.join(out_dir, "best.weights.h5")
    if os.path.exists(best):
        model.load_weights(best)
    model.save(os.path.join(out_dir, "model.keras"))
    model.backbone.save_weights(os.path.join(out_dir, "backbone.weights.h5"))
    history = pd.read_csv(os.path.join(out_dir, "history.csv"))
    if "val_loss" in history:
        tracked = history[history["epoch"] == best_epoch] if best_epoch is not None else history.iloc[:0]
        best_row = tracked.iloc[0] if len(tracked) else history.loc[history["val_loss"].idxmin()]
    learning_curves(history.to_dict("list"), os.path.join(out_dir, "learning_curves.png"),
                    title=f"{config.get('name', 'astromer')} pretraining")
    summary = {
        "epochs_run": int(len(history)),
        "best_epoch": int(best_row["epoch"]) if "val_loss" in history else None,
        "best_val_loss": float(best_row["val_loss"]) if "val_loss" in history else None,
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
