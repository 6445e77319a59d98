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

import json
import os
import shutil
import time

import numpy as np

from astromer.data.datasets import TooFewLightCurves
from astromer.progress import keras_verbose
from astromer.saving import load_keras
from astromer.training import distributed
from astromer.training.callbacks import (DataEpoch, HistoryLogger, ResumableEarlyStopping, Throughput,
                                         TrainingProgress, resumed_history, write_history)
from astromer.training.checkpoints import (TrainingCheckpoint, check_best_weights, checkpoint_number,
                                           clear_checkpoints, latest_checkpoint, resume_checkpoint,
                                           write_json_atomically)
from astromer.training.data import make_inputs, pipeline_config, split_size
from astromer.training.evaluation import evaluate_masked
from astromer.training.model import build_pretrainer, make_optimizer
from astromer.training.plots import learning_curves
from astromer.training.settings import ConfigError, _plain, write_config
from astromer.training.strategy import keras_backend, make_distribution, strategy_scope, tensorflow_available


def pretrain(config, data, out_dir, resume=False, strategy_kind="auto", verbose=1,
             input_path="auto", initial_model=None, deterministic=False, distribution=None, global_batch=None):
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
        distribution: a `Distribution` (default: `make_distribution(strategy_kind)`).
        global_batch: windows per step over all replicas (default: the
            run's recorded `run.global_batch`, else `pretraining.batch_size`
            per replica); must divide among the replicas.

    With several workers every one calls this with the same arguments; the
    chief (worker 0) writes the run folder, the others a temporary folder
    removed at the end (see `astromer.training.distributed`).
    """
    if distribution is None:
        distribution = make_distribution(strategy_kind)
    scratch = None if distribution.chief else distributed.scratch_folder(distribution.cluster)
    try:
        return _pretrain(config, data, out_dir, scratch or out_dir, resume, keras_verbose(verbose), initial_model,
                         deterministic, distribution, global_batch)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _pretrain(config, data, out_dir, run_dir, resume, verbose, initial_model, deterministic, distribution,
              global_batch):
    """`pretrain` writing to `run_dir` (`out_dir`, or a worker's scratch
    folder) and resuming from the checkpoints in `out_dir`."""
    import keras

    settings = config["pretraining"]
    seed = int(settings.get("seed", 0))
    keras.utils.set_random_seed(seed)
    if deterministic and keras_backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    strategy, replicas = distribution.strategy, distribution.replicas
    global_batch = global_batch or (config.get("run") or {}).get("global_batch")
    per_replica = distribution.split_batch(global_batch) if global_batch else int(settings["batch_size"])
    batch_size = per_replica * replicas
    epochs = int(settings["epochs"])
    history_path = os.path.join(run_dir, "history.csv")
    if distribution.multi_worker:
        # Before any variable exists: every worker resumes the same epoch,
        # with the same settings and data, or none starts.
        found = latest_checkpoint(out_dir) if resume else None
        distributed.check_agreement(distribution, out_dir, int(found[1]["epoch"]) if found else 0,
                                    settings_fingerprint(config, per_replica), split_size(data.train))
        if resume and run_dir != out_dir:
            distributed.seed_scratch(out_dir, run_dir)
    # XLA: about 30% faster on CPU than TF's graph executor (and what JAX
    # always does). PyTorch: each step one traced, compiled graph
    # (astromer.models.torch_graph). Under TensorFlow op determinism Keras
    # refuses XLA (and warns): ask for what it will do. Under a tf.distribute
    # strategy neither: XLA cannot compile the step's cross-replica
    # collectives (it fails on replicas' variables; Keras' "auto" turns it
    # off there too).
    jit = not (deterministic and keras_backend() == "tensorflow") and strategy is None
    with strategy_scope(strategy):
        # The newest usable checkpoint, checked and loaded (damaged ones are
        # skipped with a line saying why; none usable: WeightsError).
        checkpoint = resume_checkpoint(out_dir, load=load_keras) if resume else None
        if resume and checkpoint is None:
            print(f"no checkpoint in {out_dir}: starting from epoch 1")
        if checkpoint is not None:
            folder, state, model = checkpoint
            state = check_best_weights(run_dir, state, model)
            initial_epoch = int(state["epoch"])
            rows = resumed_history(state, history_path)
            write_history(history_path, rows)
            print(f"resuming {out_dir} after epoch {initial_epoch} (checkpoint {os.path.basename(folder)}, "
                  f"best val_loss {float(state['best']):.5f})")
            if not jit:
                model.jit_compile = False
        else:
            folder, rows = None, []
            state = {"best": np.inf, "best_epoch": -1, "early_stopping_wait": 0}
            model = initial_model if initial_model is not None else build_pretrainer(config)
            model.compile(make_optimizer(settings), jit_compile=jit)
            initial_epoch = 0
    message = nothing_to_train(out_dir, state, initial_epoch, config) if checkpoint is not None else None
    if message:
        print(message)
    try:
        train, val, steps, val_steps = make_inputs(data, config, model, batch_size, epochs, initial_epoch, strategy,
                                                   distribution=distribution)
    except TooFewLightCurves as error:
        flags = "--global-batch" if global_batch else "pretraining.batch_size (--set pretraining.batch_size=N)"
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
    if checkpoint is not None and not message:
        resumed_after = sorted(set(e for e in resumed_after if e < initial_epoch) | {initial_epoch})

    early_best = state.get("early_stopping_best")
    early = ResumableEarlyStopping(settings.get("patience", 20), state["early_stopping_wait"],
                                   state["best"] if early_best is None else early_best)
    checkpoints = TrainingCheckpoint(run_dir, early_stopping=early, best=state["best"], best_epoch=state["best_epoch"],
                                     history=rows, resumed_from=folder and os.path.basename(folder),
                                     resumed_after=resumed_after)
    # Order matters: the throughput goes into the logs, early stopping
    # counts the epoch, then the checkpoint saves all of it.
    callbacks = [Throughput(batch_size), early, checkpoints, HistoryLogger(history_path, rows)]
    if hasattr(train, "set_epoch"):
        # The NumPy path: windows and masks of fit's epoch, not one ahead.
        callbacks.insert(0, DataEpoch(train))
    if tensorflow_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard")))
    if verbose == 1:
        callbacks.append(TrainingProgress())  # the time left leaves out compilation
    if verbose and not message:
        where = run_dir if run_dir == out_dir else f"{out_dir} (written by worker 0; this one writes a temporary copy)"
        print(f"training {model.backbone.__class__.__name__} ({parameter_count(model)}) on "
              f"{data.description}; batch {batch_size} ({distribution.describe()}), up to {epochs} epochs; "
              f"run folder {where}")
    start = time.time()
    try:
        if not message:
            if strategy is not None:
                distributed.fit_distributed(model, strategy, train, val, epochs, initial_epoch, steps, callbacks,
                                            verbose=verbose)
            else:
                # shuffle=False: the input pipelines draw and shuffle windows
                # themselves (Keras would only warn that it ignores the default).
                model.fit(train, validation_data=val, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                          steps_per_epoch=steps, validation_steps=val_steps, callbacks=callbacks, verbose=verbose)
        elapsed = time.time() - start
        return finish_run(model, run_dir, elapsed, data, config, batch_size, best_epoch=checkpoints.best_epoch,
                          distribution=distribution, resumed_after=resumed_after)
    except Exception as error:
        if distribution.multi_worker and distributed.is_peer_failure(error):
            done = checkpoint_number(checkpoints.previous or "") or 0
            raise distributed.worker_lost(error, distribution.cluster, out_dir, done) from error
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
    return json.dumps(_plain(shared), sort_keys=True, default=str)


def parameter_count(model):
    """The parameters as the papers count them; Astromer 2's trainable mask
    token (one scalar, not in the paper's 3,953,409) named apart."""
    token = sum(int(np.prod(w.shape)) for layer in model.backbone.layers if layer.name == "mask_token"
                for w in layer.weights)
    text = f"{model.count_params() - token:,} parameters"
    return text + (f" + {token} mask token" if token else "")


def finish_run(model, out_dir, elapsed, data, config, batch_size=256, best_epoch=None, distribution=None,
               resumed_after=()):
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
                    title=f"{config.get('name', 'astromer')} pretraining", resumed_after=resumed_after)
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
        summary["test"] = evaluate_test(model, data.test, config, batch_size, distribution)
    write_json_atomically(os.path.join(out_dir, "summary.json"), summary)
    return summary


def evaluate_test(model, split, config, batch_size, distribution=None):
    """`evaluate_masked` on the test split, by every replica together under
    a tf.distribute strategy, by every JAX process together when there are
    several."""
    if distribution is None or (distribution.strategy is None and not distribution.multi_worker):
        return evaluate_masked(model, split, config, batch_size)
    if distribution.strategy is None:
        # JAX processes: each feeds the whole split (equal shapes), which
        # gives the single-process numbers.
        return evaluate_masked(model, split, config, batch_size // distribution.workers)
    from astromer.data.tf_dataset import tf_dataset

    pipeline = pipeline_config(model, config)
    per_replica = batch_size // distribution.replicas
    test = distributed.distribute(distribution.strategy, lambda index, count: tf_dataset(
        split, pipeline, per_replica, mode="eval")[0])
    logs = distributed.evaluate_distributed(model, distribution.strategy, test)
    return {k: float(logs[k]) for k in ("loss", "rmse", "r2")}
