"""A run's checkpoints: written after every epoch so that a killed run can
resume, and found again by `--resume`.

    checkpoints/latest                         name of the newest complete checkpoint
    checkpoints/epoch-NNNNN/model.keras        the model with its optimizer after epoch NNNNN (from 1)
    checkpoints/epoch-NNNNN/state.json         epoch, best val_loss, early stopping, dropout streams
    best.weights.h5                            weights of the best validation loss so far

Checkpoints are written to a temporary folder and renamed, then `latest` is
replaced with `os.replace`: a kill at any moment leaves the previous
complete checkpoint in place, so `--resume` loses at most one epoch.
"""

import json
import os
import shutil

import keras
import numpy as np


def seed_states(model):
    """The dropout generators' state variables: saved and restored so that a
    resumed run draws the same dropout masks as an uninterrupted one."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


def restore_seed_states(model, state):
    for variable, value in zip(seed_states(model), state["seed_states"]):
        variable.assign(np.asarray(value, dtype=variable.dtype))


def write_json_atomically(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state after every epoch, atomically.

    A checkpoint folder holds the model with its optimizer (`model.keras`)
    and `state.json` (epoch, best validation loss, early-stopping counter,
    dropout generator states). It is written under a temporary name and
    renamed; then `checkpoints/latest` is replaced. The weights of the best
    validation loss go to `best.weights.h5`, also via a temporary file.
    """

    def __init__(self, run_dir, monitor="val_loss", early_stopping=None, best=np.inf, best_epoch=-1):
        super().__init__()
        self.run_dir = run_dir
        self.directory = os.path.join(run_dir, "checkpoints")
        self.monitor = monitor
        self.early_stopping = early_stopping
        self.best = float(best)
        self.best_epoch = int(best_epoch)
        os.makedirs(self.directory, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        # Epochs are numbered for people, from 1 (Keras counts from 0): the
        # folder, state.json, history.csv, summary.json and the plot agree.
        number = int(epoch) + 1
        if value is not None and value < self.best:
            self.best, self.best_epoch = float(value), number
            tmp = os.path.join(self.run_dir, "best.tmp.weights.h5")
            self.model.save_weights(tmp)
            os.replace(tmp, os.path.join(self.run_dir, "best.weights.h5"))
        name = f"epoch-{number:05d}"
        tmp_dir = os.path.join(self.directory, f".{name}.tmp")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.makedirs(tmp_dir)
        self.model.save(os.path.join(tmp_dir, "model.keras"))
        state = {
            "epoch": number,
            "epoch_numbering": "1-based",
            "logs": {k: float(v) for k, v in logs.items()},
            "best": self.best,
            "best_epoch": self.best_epoch,
            "early_stopping_wait": int(getattr(self.early_stopping, "wait", 0)),
            "seed_states": [np.asarray(v.numpy() if hasattr(v, "numpy") else v).tolist() for v in seed_states(self.model)],
        }
        with open(os.path.join(tmp_dir, "state.json"), "w") as f:
            json.dump(state, f, indent=2)
        final = os.path.join(self.directory, name)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp_dir, final)
        with open(os.path.join(self.directory, "latest.tmp"), "w") as f:
            f.write(name)
        os.replace(os.path.join(self.directory, "latest.tmp"), os.path.join(self.directory, "latest"))
        for old in os.listdir(self.directory):
            if old.startswith("epoch-") and old != name:
                shutil.rmtree(os.path.join(self.directory, old), ignore_errors=True)


def latest_checkpoint(run_dir):
    """`(folder, state)` of the newest complete checkpoint of a run, or None."""
    pointer = os.path.join(run_dir, "checkpoints", "latest")
    if not os.path.exists(pointer):
        return None
    with open(pointer) as f:
        folder = os.path.join(run_dir, "checkpoints", f.read().strip())
    with open(os.path.join(folder, "state.json")) as f:
        return folder, _numbered_from_one(json.load(f))


def _numbered_from_one(state):
    """`state` with `epoch` (= epochs completed, Keras' `initial_epoch` to
    resume from) and `best_epoch` numbered from 1: checkpoints written before
    epochs were numbered for people stored 0-based indices."""
    if state.get("epoch_numbering") != "1-based":
        best = int(state.get("best_epoch", -1))
        state = {**state, "epoch": int(state["epoch"]) + 1, "best_epoch": best + 1 if best >= 0 else -1,
                 "epoch_numbering": "1-based"}
    return state
