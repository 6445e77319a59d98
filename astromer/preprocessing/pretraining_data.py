"""A pretraining run's light curves, from where they are to what `fit` reads.

`PretrainingData.open` finds or builds the train / validation / test splits
(the demo survey, a TFRecord folder, or a table read, cleaned and split
80/10/10) and resolves a joint multi-band model's band names from them;
`batches` turns the splits into the windowed, masked batches of the run's
`PretrainingPreprocessor` for one model, batch size and distribution. The
training loop calls these two and nothing else of the data side: the model
is built between them, from the band names the first one found.
"""

import json
import os
from typing import Any, NamedTuple

import keras

from astromer.backend import keras_backend, tensorflow_available
from astromer.errors import ConfigError, TooFewLightCurves
from astromer.preprocessing.pretraining import PretrainingPreprocessor

RECORD_SUFFIXES = (".record", ".tfrecord", ".tfrecords")


class FitInputs(NamedTuple):
    """What `fit` reads: `train` and `val` datasets, steps per epoch (None:
    the dataset's length), and the test split's held-out batches (`test`: a
    dataset, or under a TensorFlow strategy a `make_dataset(index, count)`
    for `Distribution.evaluate`; None without a test split). `callbacks`:
    what the input path needs from `fit` (the NumPy path's epoch)."""

    train: Any
    val: Any
    steps: Any = None
    val_steps: Any = None
    test: Any = None
    callbacks: tuple = ()


class PretrainingData:
    """Train / validation (/ test) light curves of a run, whichever path they use.

    `kind`: "tfrecords" (splits are record folders) or "packed" (splits are
    `PackedLightCurves` in memory). `report`: the cleaning report of a
    table, else None. `band_names`: a joint multi-band model's bands as the
    data resolved them (None: single band).
    """

    def __init__(self, kind, train, val, test=None, description="", report=None, band_names=None):
        self.kind = kind
        self.train, self.val, self.test = train, val, test
        self.description = description
        self.report = report
        self.band_names = band_names
        # Counted once here (the batch-size rule and the workers' agreement
        # read it): a record folder's count reads its files.
        self.train_size = split_size(train)

    @classmethod
    def open(cls, source, config, input_path="auto", verbose=True, write_records=True):
        """Finds or builds the training data; fails before training naming the path.

        `source`: None (the demo survey), a TFRecord folder (with `train/`
        and `val/` subfolders, as `pipelines/make_records.py` writes), or a
        Parquet/CSV table (cleaned and split 80/10/10 with the run's seed).
        `write_records=False`: the demo survey stays in memory instead of
        being written as records once (several workers would write the same
        files).

        A joint multi-band preset's `band_names` ("auto", or the demo's g
        and r) are resolved by the run's pretraining preprocessor from the
        data and written to `config["model"]` (the model is built from it,
        and it is saved in the run's config.yaml).
        """
        use_tf = input_path == "tfdata" or (input_path == "auto" and tensorflow_available())
        if input_path == "tfdata" and not tensorflow_available():
            raise ConfigError("--input tfdata needs TensorFlow, which is not installed; use --input numpy.")
        if source is None:
            found = _demo_data(config, use_tf and write_records, verbose)
        else:
            source = os.fspath(source)
            if not os.path.exists(source):
                raise ConfigError(f"Data path {source!r} does not exist.")
            found = _record_data(source, config, use_tf) if _has_records(source) else \
                _table_data(source, config, verbose)
        if found.band_names or "band_names" in config["model"]:
            config["model"]["band_names"] = found.band_names
        return found

    def batches(self, backbone, config, batch_size, epochs, initial_epoch, distribution=None):
        """`FitInputs` of `backbone`'s windows; `batch_size` is the global
        batch. With several replicas or workers (`distribution`, an
        `astromer.distribute.Distribution`), see `_worker_batches`."""
        from astromer.data.datasets import NumpyWindowDataset

        pipeline = PretrainingPreprocessor.from_preset(config, backbone)
        if distribution is not None and (distribution.multi_worker or distribution.strategy is not None):
            return self._worker_batches(pipeline, batch_size, epochs, initial_epoch, distribution)
        test = held_out(self.test, pipeline, batch_size, "eval") if self.test is not None else None
        if self.kind == "tfrecords" or (tensorflow_available() and keras_backend() == "tensorflow"):
            from astromer.data.tf_dataset import tf_dataset

            options = _tf_options(self.kind)
            train, steps = tf_dataset(self.train, pipeline, batch_size, mode="pretrain", epochs=epochs,
                                      initial_epoch=initial_epoch, options=options)
            val, val_steps = tf_dataset(self.val, pipeline, batch_size, mode="eval", options=options, cache=True)
            # Keras keeps one validation iterator across epochs when the
            # steps are given: repeat, so each epoch validates on one pass.
            return FitInputs(train, val.repeat(), steps, val_steps, test)
        train = NumpyWindowDataset(self.train, pipeline, batch_size, mode="pretrain", initial_epoch=initial_epoch,
                                   **_threads())
        val = NumpyWindowDataset(self.val, pipeline, batch_size, mode="eval", **_threads())
        return FitInputs(train, val, test=test, callbacks=(DataEpoch(train),))

    def _worker_batches(self, pipeline, batch_size, epochs, initial_epoch, distribution):
        """One worker's share of a run over several replicas: its shard of
        the training light curves (record files by worker, table rows by a
        hash of the id), `batch_size / workers` of each global batch, and
        the same number of steps per epoch as every other worker (the
        smallest shard decides: each worker computes every shard's size).
        Windows and masks are those of a single-process run: they depend on
        the light curve, not on who reads it.

        Validation: TensorFlow workers read their shard of it when every
        worker has one (its iterator ends all workers together), else all of
        it; JAX processes all read all of it (a global batch needs the same
        shape from every process), which gives the single-process numbers.
        The test split likewise (JAX: whole, at the worker's batch).
        """
        from astromer.data.datasets import NumpyWindowDataset
        from astromer.data.tf_dataset import shard_sizes, tf_dataset

        workers, worker = distribution.workers, distribution.worker
        per_worker = batch_size // workers
        per_replica = batch_size // distribution.replicas
        sizes = shard_sizes(self.train, workers)
        steps = min(size // per_worker for size in sizes)
        if steps < 1:
            raise TooFewLightCurves(f"the {workers} workers' shards hold {sizes} light curves; each worker's share "
                                    f"of the global batch {batch_size} is {per_worker}, which the smallest does not "
                                    "fill.")
        if distribution.strategy is not None:
            import tensorflow as tf

            options = tf.data.Options()
            options.deterministic = True
            local = distribution.replicas // workers
            shard_val = _files_per_worker(self.val, workers) if self.kind == "tfrecords" else \
                min(shard_sizes(self.val, workers)) > 0
            train, val, test = self.train, self.val, self.test

            def train_fn(index, count):
                return tf_dataset(train, pipeline, per_replica, mode="pretrain", epochs=epochs,
                                  initial_epoch=initial_epoch, options=options, shard=(index, count),
                                  steps_per_epoch=steps * local)[0]

            def val_fn(index, count):
                return tf_dataset(val, pipeline, per_replica, mode="eval", options=options, cache=True,
                                  shard=(index, count) if shard_val else None)[0]

            def test_fn(index, count):
                return tf_dataset(test, pipeline, per_replica, mode="eval")[0]

            return FitInputs(distribution.distribute_dataset(train_fn), distribution.distribute_dataset(val_fn),
                             steps, None, test_fn if test is not None else None)
        test = held_out(self.test, pipeline, per_worker, "eval") if self.test is not None else None
        if self.kind == "tfrecords":
            train = tf_dataset(self.train, pipeline, per_worker, mode="pretrain", epochs=epochs,
                               initial_epoch=initial_epoch, shard=(worker, workers), steps_per_epoch=steps)[0]
            val, val_steps = tf_dataset(self.val, pipeline, per_worker, mode="eval", cache=True)
            return FitInputs(train, val.repeat(), steps, val_steps, test)
        train = NumpyWindowDataset(self.train.shard(worker, workers), pipeline, per_worker, mode="pretrain",
                                   initial_epoch=initial_epoch, steps=steps, **_threads())
        val = NumpyWindowDataset(self.val, pipeline, per_worker, mode="eval", **_threads())
        return FitInputs(train, val, test=test, callbacks=(DataEpoch(train),))


class DataEpoch(keras.callbacks.Callback):
    """Keeps a NumPy training dataset (`NumpyWindowDataset`) on fit's epoch.

    Counting epochs in the dataset's `on_epoch_end` is off by one under
    `fit`: Keras ends an epoch once more before the first one (after peeking
    at a batch to build the model; every backend, with or without workers),
    so epoch e would train on the windows and masks drawn for e + 1 and the
    NumPy and tf.data paths would disagree epoch by epoch. Fit's epoch
    number (which counts from `initial_epoch` on a resume) is the truth;
    Keras calls this before the epoch's first batch is requested.
    """

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)


def held_out(split, preprocessor, batch_size, mode):
    """`split` (packed light curves or a TFRecord folder) as batches of
    `preprocessor` (a `PretrainingPreprocessor`) in `mode` ("eval" or
    "inference"), read once to the end."""
    from astromer.data.datasets import NumpyWindowDataset, PackedLightCurves

    if isinstance(split, PackedLightCurves):
        return NumpyWindowDataset(split, preprocessor, batch_size, mode=mode)
    from astromer.data.tf_dataset import tf_dataset

    return tf_dataset(split, preprocessor, batch_size, mode=mode)[0]


def split_size(split):
    """Light curves in a split (packed light curves or a record folder)."""
    from astromer.data.datasets import PackedLightCurves

    if isinstance(split, PackedLightCurves):
        return len(split)
    from astromer.data.tf_dataset import shard_sizes

    return int(sum(shard_sizes(split, 1)))


def _tf_options(kind):
    import tensorflow as tf

    options = tf.data.Options()
    # Several workers each read whole record files (>= 8 shards per split).
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.FILE if kind == "tfrecords" else tf.data.experimental.AutoShardPolicy.DATA
    )
    options.deterministic = True
    return options


def _threads():
    # Worker threads prepare the next batches while the device trains (NumPy
    # releases the GIL in the array work).
    return dict(workers=min(4, os.cpu_count() or 1), max_queue_size=8)


def _split_dirs(path):
    names = {d: os.path.join(path, d) for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))}
    return names.get("train"), names.get("val") or names.get("validation"), names.get("test")


def _has_records(path):
    return os.path.isdir(path) and any(f.endswith(RECORD_SUFFIXES) for _, _, files in os.walk(path) for f in files)


def _files_per_worker(split, workers):
    from astromer.data.records import record_files

    return len(record_files(split)) >= workers


def _demo_data(config, use_tf, verbose):
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.demo import DEMO_DEFAULTS, simulate_survey

    demo = config.get("demo", DEMO_DEFAULTS)
    n, demo_seed = int(demo["light_curves"]), int(demo.get("seed", 0))
    # Multi-band presets get a two-band demo survey.
    bands = ["g", "r"] if PretrainingPreprocessor.from_preset(config).band_names else None
    tag = f"demo-{n}-seed{demo_seed}" + ("-gr" if bands else "")
    description = f"simulated demo survey ({n} light curves, seed {demo_seed}{', bands g r' if bands else ''})"
    if not use_tf:
        packed = PackedLightCurves.from_light_curves(simulate_survey(n, seed=demo_seed, bands=bands),
                                                     band_names=bands)
        return PretrainingData("packed", *packed.split(seed=demo_seed), description=description, band_names=bands)
    folder = os.path.join("records", tag)
    if not os.path.exists(os.path.join(folder, "manifest.json")):
        from astromer.data.records import write_records

        if verbose:
            print(f"writing the demo survey to {folder} (once)")
        write_records(simulate_survey(n, seed=demo_seed, bands=bands), folder, shards=8, seed=demo_seed,
                      class_names=["Cep", "EB", "LPV", "RRL", "noise"], band_names=bands, config={"demo": demo})
    return PretrainingData("tfrecords", *_split_dirs(folder), description=description + f" in {folder}",
                           band_names=bands)


def _record_data(source, config, use_tf):
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.records import check_records, read_records, record_files

    train, val, test = _split_dirs(source)
    if train is None:
        raise ConfigError(f"Record folder {source!r} has no train/ subfolder (found {sorted(os.listdir(source))}); "
                          "write one with pipelines/make_records.py.")
    if val is None:
        raise ConfigError(f"Record folder {source!r} has no val/ (or validation/) subfolder for early stopping.")
    for split in (train, val, test):
        if split is not None:
            check_records(record_files(split))  # corrupt files fail here, by name
    preprocessor = PretrainingPreprocessor.from_preset(config)
    manifest = os.path.join(source, "manifest.json")
    names = json.load(open(manifest)).get("band_names") if os.path.exists(manifest) else None
    if preprocessor.band_names == "auto" and not names:
        raise ConfigError(f"{source!r} has no multi-band manifest (band_names); write it with "
                          "pipelines/make_records.py.")
    bands = preprocessor.resolve_band_names(names)
    if use_tf:
        return PretrainingData("tfrecords", train, val, test, f"TFRecords in {source}", band_names=bands)
    packs = [PackedLightCurves.from_light_curves(read_records(s), band_names=bands) if s else None
             for s in (train, val, test)]
    return PretrainingData("packed", *packs, description=f"TFRecords in {source} (NumPy path)", band_names=bands)


def _table_data(source, config, verbose):
    """A Parquet/CSV file or folder: read as the model reads it (its band,
    cleaned, JD -> MJD under compat original), then split 80/10/10 with the
    run's seed."""
    from astromer.data.cleaning import CleaningConfig, CleaningReport
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.lightcurves import bands_of, iter_light_curves
    from astromer.preprocessing.reading import read_light_curves

    preprocessor = PretrainingPreprocessor.from_preset(config)
    cleaning = {"min_observations": config.get("data", {}).get("min_observations", 5)}
    if preprocessor.float32_first:
        # The original code's cleaning, as astromer-embed reads the same
        # weights' light curves (no row dropped for its error); the run's
        # minimum length stays.
        from astromer.compat import original_settings

        cleaning = {**original_settings()["cleaning"], **cleaning}
    messages = {"option": "--set data.band", "how_to_choose": "--set data.band=NAME, or a multi-band preset (e.g. "
                "a2-mb).", "how_to_fix": "convert the table's times to MJD, or pass --compat default"}
    try:
        report = CleaningReport()
        raw = list(iter_light_curves(source))
        _check_band_present(raw, config)
        light_curves = list(read_light_curves(raw, report, preprocessor.band_names, config.get("data", {}).get("band"),
                                              CleaningConfig.from_dict(cleaning), preprocessor.float32_first,
                                              checks=False, messages=messages))
        if not light_curves:
            raise ValueError(f"none of its {len(raw):,} light curves is usable after cleaning:\n{report.summary()}")
        band_names = preprocessor.resolve_band_names(bands_of(light_curves))
        packed = PackedLightCurves.from_light_curves(light_curves, band_names=band_names)
    except (ValueError, FileNotFoundError, OSError) as error:
        raise ConfigError(f"Cannot use {source!r} as training data: {error}") from error
    if verbose:
        print(report.summary())
    return PretrainingData("packed", *packed.split(seed=int(config["pretraining"].get("seed", 0))),
                           description=f"table {source} ({len(packed)} light curves, 80/10/10 split)", report=report,
                           band_names=band_names)


def _check_band_present(light_curves, config):
    """`data.band` must be a band of the table: an absent one would leave
    every light curve empty."""
    wanted = config.get("data", {}).get("band")
    if wanted is None or config["model"].get("band_names"):
        return
    from astromer.data.lightcurves import bands_of, no_band_column

    present = bands_of(light_curves)
    if not present and light_curves:
        raise ValueError(no_band_column([wanted], option="--set data.band"))
    if present and str(wanted) not in present:
        raise ValueError(f"band {wanted!r} (data.band) is not in the table; its bands are {present}")
