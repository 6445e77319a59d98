"""The masked-reconstruction training loop: start or resume a run, fit with
checkpoints, then leave the final model, figure and summary in the run
folder (its files: docs/pretraining.md, "The run folder").

Random windows, the light-curve order and probe masks depend only on (seed,
epoch, light curve), and the dropout generators' states are saved, so a
resumed run continues the same sequence. The epoch counter, the history
rows, the early-stopping counter and the dropout states all come from the
one checkpoint resumed from (`astromer.training.checkpoints`).
"""

import json
import os
import shutil
import time

import numpy as np

from astromer.backend import keras_backend, tensorflow_available
from astromer.core.factory import build_pretrainer, make_optimizer, write_config
from astromer.presets import plain
from astromer.distribute import make_distribution
from astromer.errors import ConfigError, TooFewLightCurves
from astromer.progress import keras_verbose
from astromer.saving import load_keras
from astromer.training.callbacks import (HistoryLogger, ResumableEarlyStopping, Throughput, TrainingProgress,
                                         write_history)
from astromer.training.checkpoints import (TrainingCheckpoint, check_best_weights, checkpoint_number,
                                           clear_checkpoints, latest_checkpoint, resume_checkpoint, seed_scratch,
                                           write_json_atomically)
from astromer.training.evaluation import evaluate_dataset
from astromer.training.plots import learning_curves


def pretrain(config, data, out_dir, resume=False, verbose=1, initial_model=None, deterministic=False,
             distribution=None):
    """Runs (or resumes) masked-reconstruction training. Returns a summary dict.

    Args:
        config: resolved configuration (`astromer.core.factory.resolve_config`);
            `run.global_batch`, when set, is the windows per step over all
            replicas (else `pretraining.batch_size` per replica).
        data: `astromer.preprocessing.pretraining_data.PretrainingData`
            (see its `open`).
        out_dir: run folder.
        resume: continue from the newest checkpoint in `out_dir`.
        initial_model: a `Pretrainer` to start from (finetuning); else the
            model is built from `config["model"]`.
        deterministic: TensorFlow op determinism, for bitwise-identical
            reruns on GPUs. Keras then trains without XLA (it refuses
            `jit_compile` under op determinism): 15-25% slower on CPU.
            Off, runs still repeat within float rounding (XLA on CPU).
        distribution: an `astromer.distribute.Distribution` (default: one
            chosen by `make_distribution()`). With several workers every
            one calls this with the same arguments; the chief (worker 0)
            writes the run folder, the others a temporary one removed at
            the end.
    """
    import keras

    distribution = distribution or make_distribution()
    keras.utils.set_random_seed(int(config["pretraining"].get("seed", 0)))
    tensorflow = keras_backend() == "tensorflow"
    if deterministic and tensorflow:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    per_replica = batch_sizes(config, distribution)[0]
    run_dir = distribution.run_folder(out_dir)
    try:
        if distribution.multi_worker:
            # Before any variable exists: every worker resumes the same epoch,
            # with the same settings and data, or none starts.
            found = latest_checkpoint(out_dir) if resume else None
            distribution.check_agreement(out_dir, int(found[1]["epoch"]) if found else 0,
                                         settings_fingerprint(config, per_replica), data.train_size)
            if resume and run_dir != out_dir:
                seed_scratch(out_dir, run_dir)
        # XLA: about 30% faster on CPU than TF's graph executor (and what JAX
        # always does). PyTorch: each step one traced, compiled graph
        # (astromer.models.torch_graph). Under TensorFlow op determinism Keras
        # refuses XLA (and warns): ask for what it will do.
        jit = not (deterministic and tensorflow) and not distribution.per_replica_steps
        with distribution.scope():
            start = _start(config, out_dir, run_dir, resume, initial_model, jit)
        return _fit(config, data, out_dir, run_dir, start, resume, keras_verbose(verbose), distribution)
    finally:
        if run_dir != out_dir:
            shutil.rmtree(run_dir, ignore_errors=True)


def batch_sizes(config, distribution):
    """`(per replica, global)` batch: the run's `run.global_batch` split
    among the replicas, else `pretraining.batch_size` per replica."""
    global_batch = (config.get("run") or {}).get("global_batch")
    per_replica = distribution.split_batch(global_batch) if global_batch else int(config["pretraining"]["batch_size"])
    return per_replica, per_replica * distribution.replicas


def _start(config, out_dir, run_dir, resume, initial_model, jit):
    """`(checkpoint folder or None, state, model, history rows)` to train
    from: the newest usable checkpoint of `out_dir` (damaged ones skipped
    with a line saying why; none usable: WeightsError), else a new model."""
    checkpoint = resume_checkpoint(out_dir, load=load_keras) if resume else None
    if resume and checkpoint is None:
        print(f"no checkpoint in {out_dir}: starting from epoch 1")
    if checkpoint is None:
        model = initial_model if initial_model is not None else build_pretrainer(config)
        model.compile(make_optimizer(config["pretraining"]), jit_compile=jit)
        return None, {"best": np.inf, "best_epoch": -1, "early_stopping_wait": 0, "epoch": 0}, model, []
    folder, state, model = checkpoint
    state = check_best_weights(run_dir, state, model)
    # history.csv rewritten from the checkpoint: every epoch once.
    rows = {int(r["epoch"]): {**r, "epoch": int(r["epoch"])} for r in state["history"]}
    rows = [rows[e] for e in sorted(rows) if e <= int(state["epoch"])]
    write_history(os.path.join(run_dir, "history.csv"), rows)
    print(f"resuming {out_dir} after epoch {int(state['epoch'])} (checkpoint {os.path.basename(folder)}, "
          f"best val_loss {float(state['best']):.5f})")
    if not jit:
        model.jit_compile = False
    return folder, state, model, rows


def _fit(config, data, out_dir, run_dir, start, resume, verbose, distribution):
    """Fits from `start` (see `_start`) with the run's callbacks, then
    `finish_run`."""
    import keras

    folder, state, model, rows = start
    settings = config["pretraining"]
    batch_size = batch_sizes(config, distribution)[1]
    epochs, initial_epoch = int(settings["epochs"]), int(state["epoch"])
    message = nothing_to_train(out_dir, state, initial_epoch, config) if folder is not None else None
    if message:
        print(message)
    try:
        inputs = data.batches(model.backbone, config, batch_size, epochs, initial_epoch, distribution=distribution)
    except TooFewLightCurves as error:
        flags = ("--global-batch" if (config.get("run") or {}).get("global_batch")
                 else "pretraining.batch_size (--set pretraining.batch_size=N)")
        raise ConfigError(f"The training split: {error} Set {flags} to at most the number of training light "
                          "curves, or give more light curves.") from None
    # The run folder appears only now: a run refused for its settings or
    # data leaves nothing behind.
    if not resume and distribution.chief:
        clear_checkpoints(out_dir)
    os.makedirs(run_dir, exist_ok=True)
    write_config(config, os.path.join(run_dir, "config.yaml"))
    # Where the run was resumed (each after a completed epoch), kept in the
    # checkpoints for the learning-curves plot.
    resumed_after = [int(e) for e in state.get("resumed_after", [])]
    if folder is not None and not message:
        resumed_after = sorted(set(e for e in resumed_after if e < initial_epoch) | {initial_epoch})
    early_best = state.get("early_stopping_best")
    early = ResumableEarlyStopping(settings.get("patience", 20), state["early_stopping_wait"],
                                   state["best"] if early_best is None else early_best)
    checkpoints = TrainingCheckpoint(run_dir, early_stopping=early, best=state["best"], best_epoch=state["best_epoch"],
                                     history=rows, resumed_from=folder and os.path.basename(folder),
                                     resumed_after=resumed_after)
    # Order matters: the throughput goes into the logs, early stopping
    # counts the epoch, then the checkpoint saves all of it.
    # The input path's own first (the NumPy path's epoch: windows and masks
    # of fit's epoch, not one ahead).
    callbacks = [*inputs.callbacks, Throughput(batch_size), early, checkpoints,
                 HistoryLogger(os.path.join(run_dir, "history.csv"), rows)]
    if tensorflow_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard")))
    if verbose == 1:
        callbacks.append(TrainingProgress())  # the time left leaves out compilation
    if verbose and not message:
        where = run_dir if run_dir == out_dir else f"{out_dir} (written by worker 0; this one writes a temporary copy)"
        print(f"training {model.backbone.__class__.__name__} ({parameter_count(model)}) on "
              f"{data.description}; batch {batch_size} ({distribution.describe()}), up to {epochs} epochs; "
              f"run folder {where}")
    start_time = time.time()
    try:
        if not message:
            distribution.fit(model, inputs, epochs, initial_epoch, callbacks, verbose)
        return finish_run(model, run_dir, time.time() - start_time, data.description, inputs.test, config,
                          distribution, checkpoints)
    except Exception as error:
        lost = distribution.lost_worker(error, out_dir, checkpoint_number(checkpoints.previous or "") or 0)
        if lost is not None:
            raise lost from error
        raise


def nothing_to_train(out_dir, state, done, config):
    """The line that says why a resumed run trains no more (its epochs are
    done, or it stopped early and the patience is unchanged), or None."""
    settings = config["pretraining"]
    epochs, patience = int(settings["epochs"]), int(settings.get("patience", 20))
    wait = int(state.get("early_stopping_wait", 0))
    if state.get("stopped_early") and wait >= patience:
        return (f"{out_dir} stopped early after epoch {done} (no val_loss improvement in {wait} epochs): nothing to "
                f"train; to go on, resume with --set pretraining.patience=N (N more than {wait})"
                + (f" and --epochs N (more than {done})" if done >= epochs else ""))
    if done >= epochs:
        best = f"best val_loss {float(state['best']):.5f} at epoch {state['best_epoch']}; " if "best" in state else ""
        return (f"{out_dir} already finished its {done} epochs ({best}nothing to train): to go on, resume with "
                f"--epochs N (N more than {done})")
    return None


def finished_run(out_dir, config):
    """`(line, summary)` of a finished run in `out_dir` that `config` would
    not train further, its final outputs all written; else None (including
    a run killed before its final model was saved: resuming finishes it)."""
    found = latest_checkpoint(out_dir)
    summary_path = os.path.join(out_dir, "summary.json")
    if found is None or not os.path.exists(os.path.join(out_dir, "model.keras")) or not os.path.exists(summary_path):
        return None
    message = nothing_to_train(out_dir, found[1], int(found[1]["epoch"]), config)
    if message is None:
        return None
    try:
        with open(summary_path) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    # A summary of an earlier finish (the run was continued since) is not this one's.
    return (message, summary) if summary.get("epochs_run") == int(found[1]["epoch"]) else None


def settings_fingerprint(config, per_replica):
    """The settings every worker must share, as text: the configuration
    without the data path (machines may mount the data elsewhere)."""
    shared = {k: v for k, v in config.items() if k != "run"}
    shared["run"] = {k: v for k, v in (config.get("run") or {}).items() if k != "data"}
    shared["per_replica_batch"] = int(per_replica)
    return json.dumps(plain(shared), sort_keys=True, default=str)


def parameter_count(model):
    """The parameters as the papers count them; Astromer 2's trainable mask
    token (one scalar, not in the paper's 3,953,409) named apart."""
    token = sum(int(np.prod(w.shape)) for layer in model.backbone.layers if layer.name == "mask_token"
                for w in layer.weights)
    text = f"{model.count_params() - token:,} parameters"
    return text + (f" + {token} mask token" if token else "")


def finish_run(model, out_dir, elapsed, description, test, config, distribution, checkpoints):
    """Restores the best weights, saves the final model, plots, writes the
    summary (with the held-out test metrics when there is a test split:
    `test`, the `FitInputs.test` batches, else None).

    `checkpoints`: the run's `TrainingCheckpoint`, whose `best_epoch` is the
    epoch best.weights.h5 holds (it differs from the lowest val_loss of
    history.csv only when a damaged best.weights.h5 made a resumed run
    restart its best tracking) and `resumed_after` the resumes to mark."""
    import pandas as pd

    best = os.path.join(out_dir, "best.weights.h5")
    if os.path.exists(best):
        model.load_weights(best)
    model.save(os.path.join(out_dir, "model.keras"))
    model.backbone.save_weights(os.path.join(out_dir, "backbone.weights.h5"))
    history = pd.read_csv(os.path.join(out_dir, "history.csv"))
    if "val_loss" in history:
        tracked = history[history["epoch"] == checkpoints.best_epoch]
        best_row = tracked.iloc[0] if len(tracked) else history.loc[history["val_loss"].idxmin()]
    learning_curves(history.to_dict("list"), os.path.join(out_dir, "learning_curves.png"),
                    title=f"{config.get('name', 'astromer')} pretraining", resumed_after=checkpoints.resumed_after)
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
        "data": description,
    }
    if test is not None:
        summary["test"] = evaluate_test(model, test, distribution)
    write_json_atomically(os.path.join(out_dir, "summary.json"), summary)
    return summary


def evaluate_test(model, test, distribution):
    """Masked-reconstruction loss, RMSE and R2 on the test split's batches,
    by every replica together under a TensorFlow strategy (`test` is then
    `make_dataset(index, count)`); JAX processes each read the whole split
    at their share of the batch, which gives the single-process numbers."""
    logs = distribution.evaluate(model, test) if distribution.per_replica_steps else evaluate_dataset(model, test)
    return {k: float(logs[k]) for k in ("loss", "rmse", "r2")}
