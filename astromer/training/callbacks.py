"""Keras callbacks of a training run besides its checkpoints: the training
throughput in the epoch logs, history.csv with epochs numbered from 1, and
early stopping that survives a resume."""

import time

import keras
import numpy as np


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


class HistoryLogger(keras.callbacks.CSVLogger):
    """history.csv with epochs numbered from 1, as the console, the
    checkpoints, summary.json and the plot number them (Keras counts from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping on `val_loss` that starts from a saved counter and best
    value, so a resumed run stops where the uninterrupted one would."""

    def __init__(self, patience, wait=0, best=np.inf):
        super().__init__(monitor="val_loss", patience=int(patience), verbose=1)
        self.resumed_wait, self.resumed_best = wait, best

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.wait, self.best = self.resumed_wait, self.resumed_best
