"""Model-ready batches from light curves: a tf.data path and a NumPy path.

Both yield `(x, y)` with `x` the model inputs (`magnitudes`, `times`,
`errors`, `padding_mask`, `hidden_mask`; only those the model reads) and
`y` the reconstruction targets (`magnitudes`, `probe_mask`, `loss_weight`),
every tensor `(batch, window_size)` float32.

- tf.data (`tf_dataset`): TFRecords (interleaved over shards, parsed and
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

MODES = ("pretrain", "eval", "inference")
STREAM_SHUFFLE = 4
DEFAULT_INPUTS = ("magnitudes", "times", "padding_mask", "hidden_mask")


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

    def split(self, fractions=(0.8, 0.1, 0.1), seed=0):
        """Random train/val/test split by light curve (seeded)."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self))
        edges = np.round(np.cumsum(fractions)[:-1] * len(self)).astype(int)
        return [self.subset(np.sort(part)) for part in np.split(order, edges)]


def _finish_batch(ops, time64, mag64, err, padding, keys, epoch, config, mode, bands=None):
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


def _center_float32_first(time64, mag64, err, padding):
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
    center_float32_first = staticmethod(_center_float32_first)


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
    return _finish_batch(NumpyOps64, time64, mag64, err, padding, keys, eff_epoch, config, mode, bands=bands)


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

    Args:
        packed: `PackedLightCurves`.
        config: `PipelineConfig`.
        batch_size: windows per batch.
        mode: "pretrain", "eval" or "inference".
        initial_epoch: epoch of the first pass (for resumed runs).
        drop_remainder: drop the last partial batch (default: in "pretrain").
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size`.
    """

    def __init__(self, packed, config, batch_size, mode="pretrain", initial_epoch=0,
                 drop_remainder=None, **kwargs):
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
            raise ValueError(
                f"{total} light curves do not fill one batch of {self.batch_size}; "
                "use a smaller batch size."
            )
        count = total / self.batch_size
        self._len = int(count) if self.drop_remainder else int(math.ceil(count))

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

    def on_epoch_end(self):
        if self.mode == "pretrain":
            self.epoch += 1


class TFOps:
    """The masking operations of `astromer.data.masking` in TensorFlow."""

    def __init__(self, tf):
        self.tf = tf

    def u64(self, x):
        tf = self.tf
        return tf.cast(x, tf.uint64) if tf.is_tensor(x) else tf.constant(x, tf.uint64)

    def mix32(self, x):
        tf = self.tf
        m = tf.constant(0xFFFFFFFF, tf.uint64)
        x = self.band(x, m)
        x = self.xor(x, self.shr(x, 16))
        x = self.band(x * tf.constant(0x7FEB352D, tf.uint64), m)
        x = self.xor(x, self.shr(x, 15))
        x = self.band(x * tf.constant(0x846CA68B, tf.uint64), m)
        return self.xor(x, self.shr(x, 16))

    def xor(self, a, b):
        return self.tf.bitwise.bitwise_xor(a, b)

    def band(self, a, b):
        return self.tf.bitwise.bitwise_and(a, b)

    def shr(self, x, n):
        return self.tf.bitwise.right_shift(x, self.tf.constant(n, self.tf.uint64))

    def argsort(self, x):
        return self.tf.argsort(x, axis=-1, stable=True)

    def take(self, x, i):
        return self.tf.gather(x, self.tf.cast(i, self.tf.int32), batch_dims=1)

    def where(self, c, a, b):
        tf = self.tf
        a = tf.convert_to_tensor(a)
        b = tf.convert_to_tensor(b, dtype=a.dtype)
        return tf.where(c, a, b)

    def to_int64(self, x):
        return self.tf.cast(x, self.tf.int64)

    def to_float32(self, x):
        return self.tf.cast(x, self.tf.float32)

    def to_float64(self, x):
        return self.tf.cast(x, self.tf.float64)

    def center_float32_first(self, time64, mag64, err, padding):
        # Compatibility mode only: the exact original float32 order, shared
        # with the NumPy path (speed does not matter here).
        tf = self.tf
        out = tf.numpy_function(_center_float32_first, [time64, mag64, err, padding], [tf.float32] * 3)
        for tensor in out:
            tensor.set_shape(time64.shape)
        return out

    def gather(self, table, idx):
        return self.tf.gather(self.tf.constant(table), idx)

    def minimum(self, a, b):
        return self.tf.minimum(a, b)

    def maximum(self, a, b):
        tf = self.tf
        a = tf.convert_to_tensor(a)
        return tf.maximum(a, tf.cast(b, a.dtype))

    def mod(self, a, b):
        return self.tf.math.floormod(a, self.tf.cast(b, a.dtype))

    def arange(self, n):
        return self.tf.range(n, dtype=self.tf.int64)

    def expand(self, x, axis):
        return self.tf.expand_dims(x, axis)

    def sum(self, x, axis):
        return self.tf.reduce_sum(x, axis=axis)

    def max_(self, x, axis):
        return self.tf.reduce_max(x, axis=axis, keepdims=True)

    def min_(self, x, axis):
        return self.tf.reduce_min(x, axis=axis, keepdims=True)


def _records_source(tf, path, ops, seed):
    """(elements, to_ragged, count, epoch_ordered): serialized records in a
    deterministic order with their position, the batch parser, and a
    function giving the records with the file order permuted for an epoch."""
    from astromer.data.records import check_records, parse_function, record_files

    files = record_files(path)
    schema, counts = check_records(files)
    parse = parse_function(schema)
    # Each record's key is its position in the unpermuted order: the first
    # record of file f has key offset[f].
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def read(file_index):
        file = tf.gather(tf.constant(files), file_index)
        positions = tf.data.Dataset.range(tf.gather(tf.constant(offsets), file_index), np.iinfo(np.int64).max)
        return tf.data.Dataset.zip(positions, tf.data.TFRecordDataset(file))

    def interleaved(file_order):
        return tf.data.Dataset.from_tensor_slices(file_order).interleave(
            read, cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    ds = interleaved(np.arange(len(files), dtype=np.int64))

    def epoch_ordered(epoch):
        h = hash_uniform(ops, seed, epoch, tf.range(len(files), dtype=tf.int64), STREAM_SHUFFLE, None)
        return interleaved(tf.argsort(tf.cast(h, tf.int64), stable=True))

    def to_ragged(index, serialized):
        item = parse(serialized)
        # Records without our `key` get their position in the file order.
        return {
            "time": item["time"],
            "mag": tf.cast(item["mag"], tf.float64),
            "err": tf.cast(item["err"], tf.float64),
            "band": tf.cast(item["band"], tf.float64),
            "key": tf.where(item["key"] >= 0, item["key"], index),
        }

    return ds, to_ragged, int(sum(counts)), epoch_ordered


def _packed_source(tf, packed, ops, seed):
    ragged = lambda values: tf.RaggedTensor.from_row_splits(values, packed.offsets)  # noqa: E731
    band = packed.band if packed.band is not None else np.zeros(len(packed.time), np.int64)
    table = {"time": ragged(packed.time), "mag": ragged(packed.mag), "err": ragged(packed.err),
             "band": ragged(band.astype(np.float64))}
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(packed), dtype=np.int64), packed.keys))

    def to_ragged(rows, keys):
        out = {name: tf.gather(values, rows) for name, values in table.items()}
        out["key"] = keys
        return out

    def epoch_ordered(epoch):
        # In memory: the same full permutation as the NumPy path.
        h = hash_uniform(ops, seed, epoch, packed.keys, STREAM_SHUFFLE, None)
        order = tf.argsort(tf.cast(h, tf.int64), stable=True)
        return tf.data.Dataset.from_tensor_slices((tf.cast(order, tf.int64), tf.gather(packed.keys, order)))

    return ds, to_ragged, len(packed), epoch_ordered


def tf_dataset(source, config, batch_size, mode="pretrain", epochs=1, initial_epoch=0,
               shuffle_buffer=10_000, cache=False, options=None):
    """The tf.data input path.

    Light curves are shuffled as serialized records, batched, parsed with
    one vectorised call per batch, and windowed/masked per batch.

    Args:
        source: a TFRecord file/folder, or `PackedLightCurves`.
        config: `PipelineConfig`.
        batch_size: windows per batch (the global batch under a distribution strategy).
        mode: "pretrain", "eval" or "inference".
        epochs, initial_epoch: "pretrain" yields the epochs
            `initial_epoch .. epochs - 1` back to back, each with its own
            shuffle and masks; fit with `steps_per_epoch`.
        shuffle_buffer: light curves in the shuffle buffer.
        cache: keep the serialized light curves in memory ("eval" and
            "inference"; never windows or masks).
        options: `tf.data.Options` (threads, sharding policy).

    Returns `(dataset, steps_per_epoch)` (steps is None in "inference").
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
    ops = TFOps(tf)
    w = config.window_size
    if isinstance(source, PackedLightCurves):
        elements, to_ragged, count, epoch_ordered = _packed_source(tf, source, ops, config.seed)
    else:
        elements, to_ragged, count, epoch_ordered = _records_source(tf, source, ops, config.seed)
    if cache and mode != "pretrain":
        elements = elements.cache()
    autotune = tf.data.AUTOTUNE

    def crop(batch, starts):
        lengths = tf.cast(batch["time"].row_lengths(), tf.int64)
        idx = starts[:, None] + tf.range(w, dtype=tf.int64)[None, :]
        valid = idx < lengths[:, None]
        last = tf.maximum(tf.reduce_max(lengths), 1) - 1
        idx = tf.minimum(idx, last)
        out = {}
        for name in ("time", "mag", "err", "band"):
            dense = batch[name].to_tensor(default_value=0.0)
            dense = tf.pad(dense, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(dense)[1])]])
            out[name] = tf.where(valid, tf.gather(dense, idx, batch_dims=1), tf.zeros([], tf.float64))
            out[name].set_shape([None, w])
        out["padding"] = tf.cast(tf.logical_not(valid), tf.float32)
        out["padding"].set_shape([None, w])
        out["key"] = batch["key"]
        return out

    def finish(batch, epoch):
        bands = batch["band"] if config.num_bands else None
        return _finish_batch(ops, batch["time"], batch["mag"], batch["err"], batch["padding"],
                             batch["key"], epoch, config, mode, bands=bands)

    def random_windows(batch, epoch):
        lengths = tf.cast(batch["time"].row_lengths(), tf.int64)
        starts = window_pivots(ops, lengths, w, config.seed, epoch, batch["key"])
        return finish(crop(batch, starts), epoch)

    if mode == "pretrain":
        if count < batch_size:
            raise ValueError(f"{count} light curves do not fill one batch of {batch_size}.")

        def one_epoch(epoch):
            # A different order every epoch, deterministic for resuming: the
            # source is reordered by a hash of (seed, epoch), then a buffer
            # with a fixed seed mixes it.
            ds = epoch_ordered(epoch).shuffle(min(shuffle_buffer, count), seed=config.seed,
                                              reshuffle_each_iteration=False)
            ds = ds.batch(batch_size, drop_remainder=True)
            ds = ds.map(to_ragged, num_parallel_calls=autotune, deterministic=True)
            return ds.map(lambda b: random_windows(b, epoch), num_parallel_calls=autotune, deterministic=True)

        ds = tf.data.Dataset.range(int(initial_epoch), int(epochs)).flat_map(one_epoch)
        steps = count // batch_size
    elif mode == "eval":
        ds = elements.batch(batch_size).map(to_ragged, num_parallel_calls=autotune)
        zero = tf.constant(0, tf.int64)
        ds = ds.map(lambda b: random_windows(b, zero), num_parallel_calls=autotune)
        steps = int(math.ceil(count / batch_size))
    else:
        window_mode = config.window_mode

        def windows_of(item):
            length = tf.shape(item["time"], out_type=tf.int64)[0]
            if window_mode == "original":
                k = tf.range(length // w + 1, dtype=tf.int64)
                starts = tf.minimum(k * w, tf.maximum(length - w, 0))
            else:
                starts = tf.range(0, tf.maximum(length, 1), w, dtype=tf.int64)
            return tf.data.Dataset.from_tensor_slices(starts).map(
                lambda s: {
                    "time": item["time"][s : s + w],
                    "mag": item["mag"][s : s + w],
                    "err": item["err"][s : s + w],
                    "band": item["band"][s : s + w],
                    "key": item["key"],
                }
            )

        ds = elements.batch(256).map(to_ragged).unbatch().flat_map(windows_of)
        ds = ds.ragged_batch(batch_size)
        ds = ds.map(lambda b: finish(crop(b, tf.zeros_like(b["key"])), 0), num_parallel_calls=autotune)
        steps = None
    if options is not None:
        ds = ds.with_options(options)
    return ds.prefetch(autotune), steps
