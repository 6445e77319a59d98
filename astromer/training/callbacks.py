"""Keras callbacks of a training run besides its checkpoints: throughput,
history.csv, early stopping that survives a resume, and a progress bar whose time left leaves out compilation."""

import csv
import io
import math
import time

import keras
import numpy as np

from astromer.training.checkpoints import write_text_atomically


class Throughput(keras.callbacks.Callback):
    """Adds `windows_per_s` (training windows per second of the epoch's
    training steps, input pipeline included) to the epoch logs."""

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = int(batch_size)

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.batches, self.end = time.perf_counter(), 0, None

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self.end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.end is not None and self.batches:
            logs["windows_per_s"] = self.batches * self.batch_size / max(self.end - self.start, 1e-9)


class HistoryLogger(keras.callbacks.Callback):
    """history.csv with epochs numbered from 1 (Keras counts from 0),
    rewritten whole after every epoch from `rows` (those of the checkpoint
    resumed from, then one per epoch): every epoch exactly once, whatever
    moment an earlier run was killed at. Keras' CSVLogger's format."""

    def __init__(self, filename, rows=()):
        super().__init__()
        self.filename = filename
        self.rows = [dict(row) for row in rows]

    def on_epoch_end(self, epoch, logs=None):
        number = int(epoch) + 1
        row = {"epoch": number, **{k: float(v) for k, v in (logs or {}).items()}}
        self.rows = [r for r in self.rows if r["epoch"] < number] + [row]
        write_history(self.filename, self.rows)


def write_history(path, rows):
    """Writes history rows (dicts with `epoch`) as history.csv, atomically;
    a value a row lacks is written as NA, as Keras' CSVLogger does."""
    keys = sorted({k for row in rows for k in row if k != "epoch"})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["epoch"] + keys, dialect=csv.excel, restval="NA")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["epoch"]):
        writer.writerow({"epoch": int(row["epoch"]), **{k: v for k, v in row.items() if k != "epoch"}})
    write_text_atomically(path, text.getvalue())


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping on `val_loss` that starts from a saved counter and best
    value, so a resumed run stops where the uninterrupted one would."""

    def __init__(self, patience, wait=0, best=np.inf):
        super().__init__(monitor="val_loss", patience=int(patience), verbose=1)
        self.resumed_wait, self.resumed_best = wait, best

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.wait, self.best = self.resumed_wait, self.resumed_best


class StepProgbar(keras.utils.Progbar):
    """Keras' progress bar, first shown after an epoch's second step.

    Keras' bar estimates the time left after the first step from that step
    alone, and the first step of a run includes compiling it (XLA, or the
    PyTorch graph): a run of 25-minute epochs read "1:16:14" left. From the
    second step on, Keras already times only the steps after the first
    (`_estimate_step_duration`); the first update here records the step's
    time and values but prints nothing.
    """

    def update(self, current, values=None, finalize=None):
        first = current == 1 and not finalize and bool(self.target) and self.target > 1
        if first:
            self._last_update = math.inf  # Keras skips printing while "too soon after the last line"
        super().update(current, values, finalize)
        if first:
            self._last_update = 0.0


class TrainingProgress(keras.callbacks.ProgbarLogger):
    """`fit`'s progress line (`verbose=1`) with `StepProgbar`; passed in
    `callbacks`, it replaces the one Keras would add."""

    def _maybe_init_progbar(self):
        if self.progbar is None:
            self.progbar = StepProgbar(target=self.target, verbose=self.verbose, unit_name="step",
                                       stateless_metrics=set())
