"""The tf.data input path: TFRecords or in-memory light curves to model-ready batches.

The same windows and masks as the NumPy path of `astromer.data.datasets`
(the same preprocessor, with `astromer.data.masking` computed in `TFOps`), with
TFRecord reading interleaved over shards, parsing vectorised per batch, and
prefetching. Needs TensorFlow, imported inside the functions only, so the
rest of `astromer.data` imports without it.
"""

import math

import numpy as np

from astromer.data.datasets import MODES, STREAM_SHUFFLE, PackedLightCurves, shard_of
from astromer.data.masking import hash_uniform
from astromer.errors import TooFewLightCurves


class TFOps:
    """The array operations of `astromer.data.masking.NumpyOps`, in TensorFlow."""

    def __init__(self, tf):
        self.tf = tf
        self.xor, self.band, self.minimum, self.expand = (tf.bitwise.bitwise_xor, tf.bitwise.bitwise_and, tf.minimum,
                                                          tf.expand_dims)
        self.shr = lambda x, n: tf.bitwise.right_shift(x, tf.constant(n, tf.uint64))
        self.argsort = lambda x: tf.argsort(x, axis=-1, stable=True)
        self.take = lambda x, i: tf.gather(x, tf.cast(i, tf.int32), batch_dims=1)
        self.to_int64, self.to_float32, self.to_float64 = (lambda x, d=d: tf.cast(x, d)
                                                           for d in (tf.int64, tf.float32, tf.float64))
        self.gather = lambda table, idx: tf.gather(tf.constant(table), idx)
        self.mod = lambda a, b: tf.math.floormod(a, tf.cast(b, a.dtype))
        self.arange = lambda n: tf.range(n, dtype=tf.int64)
        self.sum = lambda x, axis: tf.reduce_sum(x, axis=axis)
        self.max_ = lambda x, axis: tf.reduce_max(x, axis=axis, keepdims=True)
        self.min_ = lambda x, axis: tf.reduce_min(x, axis=axis, keepdims=True)

    def u64(self, x):
        return self.tf.cast(x, self.tf.uint64) if self.tf.is_tensor(x) else self.tf.constant(x, self.tf.uint64)

    def where(self, c, a, b):
        a = self.tf.convert_to_tensor(a)
        return self.tf.where(c, a, self.tf.convert_to_tensor(b, dtype=a.dtype))

    def maximum(self, a, b):
        a = self.tf.convert_to_tensor(a)
        return self.tf.maximum(a, self.tf.cast(b, a.dtype))

    def numpy_function(self, fn, args, dtypes, shapes):
        # Compatibility mode only (the exact original float32 order): shared
        # with the NumPy path, speed does not matter here.
        out = self.tf.numpy_function(fn, args, [getattr(self.tf, d) for d in dtypes])
        for tensor, shape in zip(out, shapes):
            tensor.set_shape(shape)
        return out


def worker_files(files, index, count):
    """The record files worker `index` of `count` reads: every `count`-th,
    from its own index (whole files, so that no record is read twice)."""
    return list(files)[int(index)::int(count)]


def shard_sizes(source, count):
    """The light curves of each of `count` workers' shards of `source`
    (record files or `PackedLightCurves`): every worker can compute them
    all, so that all agree on the steps of an epoch without talking."""
    if isinstance(source, PackedLightCurves):
        return np.bincount(shard_of(source.ids, count), minlength=int(count)).tolist()
    from astromer.data.records import check_records, record_files

    files = record_files(source)
    _, counts = check_records(files)
    return [int(sum(worker_files(counts, k, count))) for k in range(int(count))]


def _records_source(tf, path, ops, seed, shard=None):
    """(elements, to_ragged, count, epoch_ordered): serialized records in a
    deterministic order with their position, the batch parser, and a
    function giving the records with the file order permuted for an epoch.
    `shard=(index, count)`: only the files of that worker."""
    from astromer.data.records import check_records, parse_function, record_files

    files = record_files(path)
    # Every record is counted once here and compared with the writer's
    # manifest: a shard that is short, empty, missing or unlisted fails by
    # name (TFRecordDataset reads a file cut at a record boundary silently).
    schema, counts = check_records(files)
    # Each record's key is its position in the unpermuted order of all the
    # files: the first record of file f has key offset[f] (sharded or not).
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    if shard is not None:
        total = len(files)
        files, counts, offsets = (worker_files(v, *shard) for v in (files, counts, offsets))
        if not files:
            raise TooFewLightCurves(f"{path!r} has {total} record files for {shard[1]} workers, who read whole "
                                    f"files: worker {shard[0]} has none. Write the records with at least "
                                    f"{shard[1]} shards (pipelines/make_records.py --shards).")
    parse = parse_function(schema)
    offsets = np.asarray(offsets, np.int64)

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


def tf_dataset(source, preprocessor, batch_size, mode="pretrain", epochs=1, initial_epoch=0,
               shuffle_buffer=10_000, cache=False, options=None, shard=None, steps_per_epoch=None):
    """The tf.data input path.

    Light curves are shuffled as serialized records, batched, parsed with
    one vectorised call per batch, and windowed/masked per batch.

    Args:
        source: a TFRecord file/folder, or `PackedLightCurves`.
        preprocessor: `astromer.preprocessing.PretrainingPreprocessor`.
        batch_size: windows per batch (the global batch under a distribution strategy).
        mode: "pretrain", "eval" or "inference".
        epochs, initial_epoch: "pretrain" yields the epochs
            `initial_epoch .. epochs - 1` back to back, each with its own
            shuffle and masks; fit with `steps_per_epoch`.
        shuffle_buffer: light curves in the shuffle buffer.
        cache: keep the serialized light curves in memory ("eval" and
            "inference"; never windows or masks).
        options: `tf.data.Options` (threads, sharding policy).
        shard: `(index, count)`: only the light curves of worker `index` of
            `count` (record files by worker, in-memory light curves by a
            hash of their id; windows and masks as without sharding).
        steps_per_epoch: "pretrain": batches per epoch (default: as many as
            the light curves fill). Workers training together take the
            same number, from shards of different sizes.

    Returns `(dataset, steps_per_epoch)` (steps is None in "inference").
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
    ops = TFOps(tf)
    w = preprocessor.window_size
    if isinstance(source, PackedLightCurves):
        packed = source if shard is None else source.shard(*shard)
        if not len(packed):
            raise TooFewLightCurves(f"worker {shard[0]} of {shard[1]} has no light curve to read.")
        elements, to_ragged, count, epoch_ordered = _packed_source(tf, packed, ops, preprocessor.seed)
    else:
        elements, to_ragged, count, epoch_ordered = _records_source(tf, source, ops, preprocessor.seed, shard)
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
        return preprocessor(batch, batch["key"], epoch, mode, ops)

    def random_windows(batch, epoch):
        lengths = tf.cast(batch["time"].row_lengths(), tf.int64)
        return finish(crop(batch, preprocessor.random_starts(lengths, batch["key"], epoch, ops)), epoch)

    if mode == "pretrain":
        if count < batch_size:
            where = "" if shard is None else f" of worker {shard[0]} (of {shard[1]})"
            raise TooFewLightCurves(f"{count} light curves{where} do not fill one batch of {batch_size}.")
        steps = count // batch_size if steps_per_epoch is None else int(steps_per_epoch)
        if steps > count // batch_size:
            raise ValueError(f"{steps} steps of {batch_size} need {steps * batch_size} light curves; "
                             f"there are {count}.")

        def one_epoch(epoch):
            # A different order every epoch, deterministic for resuming: the
            # source is reordered by a hash of (seed, epoch), then a buffer
            # with a fixed seed mixes it.
            ds = epoch_ordered(epoch).shuffle(min(shuffle_buffer, count), seed=preprocessor.seed,
                                              reshuffle_each_iteration=False)
            ds = ds.batch(batch_size, drop_remainder=True).take(steps)
            ds = ds.map(to_ragged, num_parallel_calls=autotune, deterministic=True)
            return ds.map(lambda b: random_windows(b, epoch), num_parallel_calls=autotune, deterministic=True)

        ds = tf.data.Dataset.range(int(initial_epoch), int(epochs)).flat_map(one_epoch)
    elif mode == "eval":
        ds = elements.batch(batch_size).map(to_ragged, num_parallel_calls=autotune)
        zero = tf.constant(0, tf.int64)
        ds = ds.map(lambda b: random_windows(b, zero), num_parallel_calls=autotune)
        steps = int(math.ceil(count / batch_size))
    else:
        window_mode = preprocessor.window_mode

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
