"""Model-ready batches from light curves: the NumPy input path.

`NumpyWindowDataset` (a `keras.utils.PyDataset`) reads in-memory light
curves (`PackedLightCurves`, from Parquet/CSV tables or records) and works
with any Keras backend, without TensorFlow. The tf.data path is
`astromer.data.tf_dataset`. Both cut the windows and leave the rest to a
preprocessor (`astromer.preprocessing.PretrainingPreprocessor`): with the
same seed both give the same window and the same masks for a given light
curve and epoch; they differ only in how light curves are grouped into
batches.
"""

import math
import zlib

import keras
import numpy as np

from astromer.data.masking import NumpyOps, hash_uniform
from astromer.data.windows import gather_windows, window_starts
from astromer.errors import TooFewLightCurves

MODES = ("pretrain", "eval", "inference")
STREAM_SHUFFLE = 4


class PackedLightCurves:
    """Light curves in memory as concatenated arrays plus offsets.

    `time` is float64; `keys` (int64) seed each light curve's random draws.
    """

    def __init__(self, ids, offsets, time, mag, err, labels=None, keys=None, band=None, band_names=None):
        self.ids = list(ids)
        self.offsets = np.asarray(offsets, np.int64)
        self.time = np.asarray(time, np.float64)
        self.mag = np.asarray(mag, np.float64)
        self.err = np.asarray(err, np.float64)
        self.labels = labels
        self.band = None if band is None else np.asarray(band, np.int64)
        self.band_names = band_names
        self.keys = np.arange(len(self.ids), dtype=np.int64) if keys is None else np.asarray(keys, np.int64)

    @classmethod
    def from_light_curves(cls, light_curves, band_names=None):
        """Packs light curves. With `band_names` (a joint multi-band model)
        every observation's band is stored as its index in that list (a band
        not in it fails with its name); without, bands are ignored."""
        ids, lengths, times, mags, errs, labels, keys, bands = [], [], [], [], [], [], [], []
        lookup = {name: i for i, name in enumerate(band_names or [])}
        for i, lc in enumerate(light_curves):
            if band_names:
                if lc.band is None:
                    raise ValueError(f"Light curve {lc.id!r} has no band column; the model needs bands {band_names}.")
                names = np.asarray(lc.band).astype(str)
                unknown = sorted(str(n) for n in set(names) - set(lookup))
                if unknown:
                    raise ValueError(f"Light curve {lc.id!r} has band(s) {unknown} outside {band_names}.")
                bands.append(np.array([lookup[n] for n in names], np.int64))
            ids.append(lc.id)
            lengths.append(len(lc.time))
            times.append(np.asarray(lc.time, np.float64))
            mags.append(np.asarray(lc.mag, np.float64))
            errs.append(np.asarray(lc.err, np.float64))
            labels.append(lc.label)
            keys.append(lc.meta.get("key", i) if lc.meta else i)
        if not ids:
            raise ValueError("No light curves to pack (empty input after cleaning?).")
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return cls(ids, offsets, np.concatenate(times), np.concatenate(mags), np.concatenate(errs),
                   labels=labels, keys=np.asarray(keys, np.int64),
                   band=np.concatenate(bands) if band_names else None, band_names=band_names)

    def __len__(self):
        return len(self.ids)

    @property
    def lengths(self):
        return np.diff(self.offsets)

    def subset(self, indices):
        indices = np.asarray(indices, np.int64)
        parts = [slice(self.offsets[i], self.offsets[i + 1]) for i in indices]
        lengths = self.lengths[indices]
        cat = lambda a: np.concatenate([a[p] for p in parts]) if len(parts) else a[:0]  # noqa: E731
        return PackedLightCurves(
            [self.ids[i] for i in indices],
            np.concatenate([[0], np.cumsum(lengths)]),
            cat(self.time), cat(self.mag), cat(self.err),
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            keys=self.keys[indices],
            band=None if self.band is None else cat(self.band), band_names=self.band_names,
        )

    def shard(self, index, count):
        """The light curves of worker `index` of `count`: those whose id
        hashes to it (`shard_of`), so that every worker of a multi-worker
        run reads its own, and the same on every run and machine."""
        return self.subset(np.flatnonzero(shard_of(self.ids, count) == int(index)))

    def split(self, fractions=(0.8, 0.1, 0.1), seed=0):
        """Random train/val/test split by light curve (seeded)."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self))
        edges = np.round(np.cumsum(fractions)[:-1] * len(self)).astype(int)
        return [self.subset(np.sort(part)) for part in np.split(order, edges)]


def shard_of(ids, count):
    """The worker (0 .. count - 1) that reads each light curve: CRC-32 of its
    id (as text, UTF-8) modulo `count`. A stable hash, not Python's `hash`,
    which changes from one process to the next."""
    return np.array([zlib.crc32(str(i).encode("utf-8")) % int(count) for i in ids], np.int64)


def _epoch_order(keys, seed, epoch):
    h = hash_uniform(NumpyOps, seed, epoch, keys, STREAM_SHUFFLE, None)
    return np.argsort(h.astype(np.int64), kind="stable")


def numpy_batch(packed, indices, preprocessor, epoch, mode="pretrain", starts=None):
    """One `(inputs, targets)` batch of NumPy arrays for light curves `indices`.

    `starts` (inference) gives each window's first row; in training the
    window is drawn from the light curve's key and the epoch.
    """
    indices = np.asarray(indices, np.int64)
    keys = packed.keys[indices]
    lengths = packed.lengths[indices]
    if starts is None:
        epoch = 0 if mode == "eval" else epoch
        starts = preprocessor.random_starts(lengths, keys, epoch)
    columns = [packed.time, packed.mag, packed.err] + ([packed.band] if preprocessor.num_bands else [])
    (time, mag, err, *band), padding = gather_windows(columns, starts, preprocessor.window_size,
                                                      (packed.offsets[indices], lengths))
    windows = {"time": time, "mag": mag, "err": err, "padding": padding, "band": band[0] if band else None}
    return preprocessor(windows, keys, epoch, mode)


def inference_windows(packed, preprocessor):
    """`(light curve index, start)` of every sequential window, in order."""
    items = []
    for i, length in enumerate(packed.lengths):
        for start in window_starts(length, preprocessor.window_size, preprocessor.window_mode):
            items.append((i, int(start)))
    return np.asarray(items, np.int64).reshape(-1, 2)


class NumpyWindowDataset(keras.utils.PyDataset):
    """NumPy input path: a `keras.utils.PyDataset` over in-memory light curves.

    Works with every Keras backend and without TensorFlow. In "pretrain"
    mode the light-curve order and the windows/masks change every epoch
    (Keras calls `on_epoch_end`); `initial_epoch` resumes the sequence.
    Keras' `fit` also calls `on_epoch_end` after peeking at a batch before
    the first epoch, which alone would train epoch e on the draws of e + 1:
    under `fit` add `preprocessing.pretraining_data.DataEpoch(dataset)` (training does),
    which sets the epoch from fit's own count.

    Args:
        packed: `PackedLightCurves`.
        preprocessor: `astromer.preprocessing.PretrainingPreprocessor`.
        batch_size: windows per batch.
        mode: "pretrain", "eval" or "inference".
        initial_epoch: epoch of the first pass (for resumed runs).
        drop_remainder: drop the last partial batch (default: in "pretrain").
        steps: at most this many batches per epoch (several processes
            training together must all take the same number of steps, from
            shards of different sizes).
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size`.
    """

    def __init__(self, packed, preprocessor, batch_size, mode="pretrain", initial_epoch=0,
                 drop_remainder=None, steps=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
        self.packed = packed
        self.preprocessor = preprocessor
        self.batch_size = int(batch_size)
        self.mode = mode
        self.epoch = int(initial_epoch)
        self.drop_remainder = (mode == "pretrain") if drop_remainder is None else drop_remainder
        self.windows = inference_windows(packed, preprocessor) if mode == "inference" else None
        total = len(self.windows) if self.windows is not None else len(packed)
        if self.drop_remainder and total < self.batch_size:
            raise TooFewLightCurves(
                f"{total} light curves do not fill one batch of {self.batch_size}; "
                "use a smaller batch size."
            )
        count = total / self.batch_size
        self._len = int(count) if self.drop_remainder else int(math.ceil(count))
        if steps is not None:
            self._len = min(self._len, int(steps))

    def __len__(self):
        return self._len

    def _order(self):
        if self.mode == "pretrain":
            return _epoch_order(self.packed.keys, self.preprocessor.seed, self.epoch)
        return np.arange(len(self.packed))

    def __getitem__(self, index):
        if index >= self._len:
            raise IndexError(index)
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.windows is not None:
            chunk = self.windows[part]
            return numpy_batch(self.packed, chunk[:, 0], self.preprocessor, self.epoch, self.mode, starts=chunk[:, 1])
        return numpy_batch(self.packed, self._order()[part], self.preprocessor, self.epoch, self.mode)

    def set_epoch(self, epoch):
        """Draws the windows and masks of `epoch` from now on (training sets
        it from `fit`'s own epoch count: `preprocessing.pretraining_data.DataEpoch`)."""
        if self.mode == "pretrain":
            self.epoch = int(epoch)

    def on_epoch_end(self):
        if self.mode == "pretrain":
            self.epoch += 1
