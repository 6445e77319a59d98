"""Model-ready batches from light curves: a tf.data path and a NumPy path.

Both yield `(x, y)` with `x` the model inputs (`magnitudes`, `times`,
`errors`, `padding_mask`, `hidden_mask`; only those the model reads) and
`y` the reconstruction targets (`magnitudes`, `probe_mask`, `loss_weight`),
every tensor `(batch, window_size)` float32.

- tf.data (`astromer.data.tf_dataset`, its own module): TFRecords (interleaved over shards, parsed and
  windowed in parallel, prefetched) or in-memory light curves; static batch
  shapes in training. Needs TensorFlow.
- NumPy (`NumpyWindowDataset`, a `keras.utils.PyDataset`): in-memory light
  curves from Parquet/CSV tables; works with any Keras backend and without
  TensorFlow installed.

With the same seed both produce the same window and the same masks for a
given light curve and epoch (see `astromer.data.masking`); they differ only
in how light curves are grouped into batches.

Modes:

- "pretrain": one random window per light curve per epoch (Astromer 2
  paper Sect. 2.1), fresh probe masks every epoch;
- "eval": the same, with the epoch fixed (repeatable validation numbers);
- "inference": every sequential window of every light curve, no masking,
  `probe_mask` on every observation (how the A2 paper reports
  finetuning RMSE, Sect. 5.2).
"""

import math
import zlib

import numpy as np

from astromer.data.masking import (
    MaskingConfig,
    NumpyOps,
    error_weights,
    hash_uniform,
    probe_masks,
    window_pivots,
)
from astromer.data.windows import center, window_starts
from astromer.errors import AstromerError

MODES = ("pretrain", "eval", "inference")
STREAM_SHUFFLE = 4
DEFAULT_INPUTS = ("magnitudes", "times", "padding_mask", "hidden_mask")


class TooFewLightCurves(AstromerError):
    """A split with fewer light curves than one training batch (training
    drops the incomplete last batch): a setting to change, not a bug."""


class PipelineConfig:
    """Windowing and masking settings shared by both input paths.

    Args:
        window_size: observations per window.
        masking: a `MaskingConfig` or the `data` section of a preset.
        seed: seed of every random draw.
        input_names: model inputs to yield (a backbone's `input_names`).
        window_mode: inference windows, "nonoverlapping" or "original".
        float32_first: original float32 centring (exact original inputs).
        num_bands: bands of a joint multi-band model (0: single band). The
            light curves then carry band indices; magnitudes are centred per
            band within each window and `bands` is yielded as an input.
    """

    def __init__(self, window_size=200, masking=None, seed=0, input_names=DEFAULT_INPUTS,
                 window_mode="nonoverlapping", float32_first=False, num_bands=0):
        self.window_size = int(window_size)
        if isinstance(masking, MaskingConfig):
            self.masking = masking
        else:
            self.masking = MaskingConfig(**(masking or {}))
        self.seed = int(seed)
        self.input_names = tuple(input_names)
        self.window_mode = window_mode
        self.float32_first = bool(float32_first)
        self.num_bands = int(num_bands)
        if self.num_bands and self.float32_first:
            raise ValueError("float32_first reproduces single-band original windows; it has no multi-band form.")
        self.count_table = self.masking.count_table(self.window_size)


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


def finish_batch(ops, time64, mag64, err, padding, keys, epoch, config, mode, bands=None):
    """Centres, masks and weights a batch of padded windows (either path)."""
    real = 1.0 - padding
    n_real = ops.maximum(ops.sum(real, 1), 1.0)
    if config.float32_first:
        t, m, weighted_err = ops.center_float32_first(time64, mag64, err, padding)
    else:
        real64 = ops.to_float64(real)
        t_mean = ops.sum(time64 * real64, 1) / ops.to_float64(n_real)
        t = ops.to_float32((time64 - ops.expand(t_mean, -1)) * real64)
        if bands is None:
            m_mean = ops.expand(ops.sum(mag64 * real64, 1) / ops.to_float64(n_real), -1)
        else:
            # Multi-band: each magnitude minus the mean of its band in the window.
            m_mean = 0.0 * mag64
            for band in range(config.num_bands):
                in_band = ops.to_float64(ops.to_float32(bands) == float(band)) * real64
                count = ops.maximum(ops.sum(in_band, 1), 1.0)
                m_mean = m_mean + in_band * ops.expand(ops.sum(mag64 * in_band, 1) / count, -1)
        m = ops.to_float32((mag64 - m_mean) * real64)
    err = ops.to_float32(err) * ops.to_float32(real)
    padding = ops.to_float32(padding)
    if config.float32_first:
        # As the original: padded steps take part in the min/max.
        weights = error_weights(ops, weighted_err, 0.0 * padding)
    else:
        weights = error_weights(ops, err, padding)
    if mode == "inference":
        shown, hidden, probe = m, 0.0 * m, ops.to_float32(real)
    else:
        masks = probe_masks(ops, m, padding, config.count_table, config.masking.mode,
                            config.seed, epoch, keys)
        shown, hidden, probe = masks["input_magnitudes"], masks["hidden_mask"], masks["probe_mask"]
    available = {"magnitudes": shown, "times": t, "errors": err, "padding_mask": padding, "hidden_mask": hidden}
    if bands is not None:
        available["bands"] = ops.to_float32(bands) * ops.to_float32(real)
    x = {name: available[name] for name in config.input_names}
    y = {"magnitudes": m, "probe_mask": probe, "loss_weight": weights}
    return x, y


def center_float32_first(time64, mag64, err, padding):
    """The original centring of each window: float32 cast, then the float32
    mean over its real rows (`astromer.data.windows.center`), for time,
    magnitude and error. Also returns the errors the original loader
    weights: centred, zero-padded, then the mean added back, so padded steps
    carry the window's mean error (ORACLES.md, section 3)."""
    t = np.zeros(time64.shape, np.float32)
    m = np.zeros(mag64.shape, np.float32)
    e = np.zeros(err.shape, np.float32)
    for row in range(time64.shape[0]):
        n = int(round(float((1.0 - padding[row]).sum())))
        if n:
            values, means = center(np.stack([time64[row, :n], mag64[row, :n], err[row, :n]], 1), float32_first=True)
            t[row, :n], m[row, :n], e[row, :n] = values[:, 0], values[:, 1], values[:, 2]
            e[row] += np.float32(means[2])
    return t, m, e


class NumpyOps64(NumpyOps):
    to_float64 = staticmethod(lambda x: np.asarray(x).astype(np.float64))
    center_float32_first = staticmethod(center_float32_first)


def _epoch_order(keys, seed, epoch):
    h = hash_uniform(NumpyOps, seed, epoch, keys, STREAM_SHUFFLE, None)
    return np.argsort(h.astype(np.int64), kind="stable")


def numpy_batch(packed, indices, config, epoch, mode="pretrain", starts=None):
    """One `(x, y)` batch of NumPy arrays for light curves `indices`.

    `starts` (inference) gives each window's first row; in training the
    window is drawn from the light curve's key and the epoch.
    """
    w = config.window_size
    indices = np.asarray(indices, np.int64)
    lengths = packed.lengths[indices]
    keys = packed.keys[indices]
    if starts is None:
        eff_epoch = 0 if mode == "eval" else epoch
        starts = window_pivots(NumpyOps, lengths, w, config.seed, eff_epoch, keys)
    else:
        eff_epoch = epoch
    starts = np.asarray(starts, np.int64)
    steps = np.arange(w)
    valid = steps[None, :] < np.minimum(lengths - starts, w)[:, None]
    rows = np.where(valid, packed.offsets[indices][:, None] + starts[:, None] + steps[None, :], 0)
    time64 = np.where(valid, packed.time[rows], 0.0)
    mag64 = np.where(valid, packed.mag[rows], 0.0)
    err = np.where(valid, packed.err[rows], 0.0)
    padding = (~valid).astype(np.float32)
    bands = np.where(valid, packed.band[rows], 0) if config.num_bands else None
    return finish_batch(NumpyOps64, time64, mag64, err, padding, keys, eff_epoch, config, mode, bands=bands)


def inference_windows(packed, config):
    """`(light curve index, start)` of every sequential window, in order."""
    items = []
    for i, length in enumerate(packed.lengths):
        for start in window_starts(length, config.window_size, config.window_mode):
            items.append((i, int(start)))
    return np.asarray(items, np.int64).reshape(-1, 2)


def _pydataset_base():
    import keras

    return keras.utils.PyDataset


class NumpyWindowDataset(_pydataset_base()):
    """NumPy input path: a `keras.utils.PyDataset` over in-memory light curves.

    Works with every Keras backend and without TensorFlow. In "pretrain"
    mode the light-curve order and the windows/masks change every epoch
    (Keras calls `on_epoch_end`); `initial_epoch` resumes the sequence.
    Keras' `fit` also calls `on_epoch_end` after peeking at a batch before
    the first epoch, which alone would train epoch e on the draws of e + 1:
    under `fit` add `training.callbacks.DataEpoch(dataset)` (training does),
    which sets the epoch from fit's own count.

    Args:
        packed: `PackedLightCurves`.
        config: `PipelineConfig`.
        batch_size: windows per batch.
        mode: "pretrain", "eval" or "inference".
        initial_epoch: epoch of the first pass (for resumed runs).
        drop_remainder: drop the last partial batch (default: in "pretrain").
        steps: at most this many batches per epoch (several processes
            training together must all take the same number of steps, from
            shards of different sizes).
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size`.
    """

    def __init__(self, packed, config, batch_size, mode="pretrain", initial_epoch=0,
                 drop_remainder=None, steps=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
        self.packed = packed
        self.config = config
        self.batch_size = int(batch_size)
        self.mode = mode
        self.epoch = int(initial_epoch)
        self.drop_remainder = (mode == "pretrain") if drop_remainder is None else drop_remainder
        self.windows = inference_windows(packed, config) if mode == "inference" else None
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
            return _epoch_order(self.packed.keys, self.config.seed, self.epoch)
        return np.arange(len(self.packed))

    def __getitem__(self, index):
        if index >= self._len:
            raise IndexError(index)
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.windows is not None:
            chunk = self.windows[part]
            return numpy_batch(self.packed, chunk[:, 0], self.config, self.epoch, self.mode, starts=chunk[:, 1])
        return numpy_batch(self.packed, self._order()[part], self.config, self.epoch, self.mode)

    def set_epoch(self, epoch):
        """Draws the windows and masks of `epoch` from now on (training sets
        it from `fit`'s own epoch count: `training.callbacks.DataEpoch`)."""
        if self.mode == "pretrain":
            self.epoch = int(epoch)

    def on_epoch_end(self):
        if self.mode == "pretrain":
            self.epoch += 1
