"""A run's light curves: finding or building the train / validation / test
splits (demo survey, TFRecord folder or table) and turning them into the
windowed, masked batches `fit` reads (through the run's
`PretrainingPreprocessor`, which also decides a joint multi-band model's
band names)."""

import json
import os

from astromer.backend import keras_backend, tensorflow_available
from astromer.core.factory import DEMO_DEFAULTS
from astromer.errors import ConfigError
from astromer.preprocessing.pretraining import PretrainingPreprocessor


class TrainingData:
    """Train / validation (/ test) inputs for `fit`, whichever path they use."""

    def __init__(self, kind, train, val, test=None, description="", report=None):
        self.kind = kind  # "tfrecords", "packed"
        self.train, self.val, self.test = train, val, test
        self.description = description
        self.report = report  # the cleaning report of a table (CleaningReport), else None
        self.band_names = None  # a joint multi-band model's bands, as the data resolved them


def _split_dirs(path):
    names = {d: os.path.join(path, d) for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))}
    train = names.get("train")
    val = names.get("val") or names.get("validation")
    test = names.get("test")
    return train, val, test


def _has_records(path):
    return os.path.isdir(path) and any(
        f.endswith((".record", ".tfrecord", ".tfrecords")) for _, _, files in os.walk(path) for f in files
    )


def prepare_data(data, config, out_dir, input_path="auto", verbose=True, write_records=True):
    """Finds or builds the training data; fails before training naming the path.

    `data`: None (the demo survey), a TFRecord folder (with `train/` and
    `val/` subfolders, as `pipelines/make_records.py` writes), or a
    Parquet/CSV table (cleaned and split 80/10/10 with the run's seed).
    `write_records=False`: the demo survey stays in memory instead of being
    written as records once (several workers would write the same files).

    A joint multi-band preset's `band_names` ("auto", or the demo's g and
    r) are resolved by the run's pretraining preprocessor from the data and
    written to `config["model"]` (the model is built from it, and it is
    saved in the run's config.yaml).
    """
    use_tf = input_path == "tfdata" or (input_path == "auto" and tensorflow_available())
    if input_path == "tfdata" and not tensorflow_available():
        raise ConfigError("--input tfdata needs TensorFlow, which is not installed; use --input numpy.")
    if data is None:
        found = _demo_data(config, use_tf and write_records, verbose)
    else:
        data = os.fspath(data)
        if not os.path.exists(data):
            raise ConfigError(f"Data path {data!r} does not exist.")
        found = _record_data(data, config, use_tf) if os.path.isdir(data) and _has_records(data) else \
            _table_data(data, config, verbose)
    if found.band_names or "band_names" in config["model"]:
        config["model"]["band_names"] = found.band_names
    return found


def _demo_data(config, use_tf, verbose):
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.demo import simulate_survey

    demo = config.get("demo", DEMO_DEFAULTS)
    n, demo_seed = int(demo["light_curves"]), int(demo.get("seed", 0))
    # Multi-band presets get a two-band demo survey.
    bands = ["g", "r"] if PretrainingPreprocessor.from_preset(config).band_names else None
    tag = f"demo-{n}-seed{demo_seed}" + ("-gr" if bands else "")
    description = f"simulated demo survey ({n} light curves, seed {demo_seed}{', bands g r' if bands else ''})"
    if use_tf:
        folder = os.path.join("records", tag)
        if not os.path.exists(os.path.join(folder, "manifest.json")):
            from astromer.data.records import write_records

            if verbose:
                print(f"writing the demo survey to {folder} (once)")
            write_records(simulate_survey(n, seed=demo_seed, bands=bands), folder, shards=8, seed=demo_seed,
                          class_names=["Cep", "EB", "LPV", "RRL", "noise"], band_names=bands,
                          config={"demo": demo})
        found = TrainingData("tfrecords", *(_split_dirs(folder)), description=description + f" in {folder}")
    else:
        packed = PackedLightCurves.from_light_curves(simulate_survey(n, seed=demo_seed, bands=bands),
                                                     band_names=bands)
        found = TrainingData("packed", *packed.split(seed=demo_seed), description=description)
    found.band_names = bands
    return found


def _record_data(data, config, use_tf):
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.records import check_records, record_files

    train, val, test = _split_dirs(data)
    if train is None:
        raise ConfigError(
            f"Record folder {data!r} has no train/ subfolder (found {sorted(os.listdir(data))}); "
            "write one with pipelines/make_records.py."
        )
    if val is None:
        raise ConfigError(f"Record folder {data!r} has no val/ (or validation/) subfolder for early stopping.")
    for split in (train, val, test):
        if split is not None:
            check_records(record_files(split))  # corrupt files fail here, by name
    preprocessor = PretrainingPreprocessor.from_preset(config)
    manifest = os.path.join(data, "manifest.json")
    names = json.load(open(manifest)).get("band_names") if os.path.exists(manifest) else None
    if preprocessor.band_names == "auto" and not names:
        raise ConfigError(f"{data!r} has no multi-band manifest (band_names); write it with pipelines/make_records.py.")
    preprocessor.resolve_band_names(names)
    if use_tf:
        found = TrainingData("tfrecords", train, val, test, f"TFRecords in {data}")
    else:
        from astromer.data.records import read_records

        packs = [PackedLightCurves.from_light_curves(read_records(s), band_names=preprocessor.band_names) if s
                 else None for s in (train, val, test)]
        found = TrainingData("packed", *packs, description=f"TFRecords in {data} (NumPy path)")
    found.band_names = preprocessor.band_names
    return found


def _table_data(data, config, verbose):
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
        raw = list(iter_light_curves(data))
        check_band_present(raw, config)
        light_curves = list(read_light_curves(raw, report, preprocessor.band_names, config.get("data", {}).get("band"),
                                              CleaningConfig.from_dict(cleaning), preprocessor.float32_first,
                                              checks=False, messages=messages))
        if not light_curves:
            raise ValueError(f"none of its {len(raw):,} light curves is usable after cleaning:\n{report.summary()}")
        band_names = preprocessor.resolve_band_names(bands_of(light_curves))
        packed = PackedLightCurves.from_light_curves(light_curves, band_names=band_names)
    except (ValueError, FileNotFoundError, OSError) as error:
        raise ConfigError(f"Cannot use {data!r} as training data: {error}") from error
    if verbose:
        print(report.summary())
    found = TrainingData("packed", *packed.split(seed=int(config["pretraining"].get("seed", 0))),
                         description=f"table {data} ({len(packed)} light curves, 80/10/10 split)", report=report)
    found.band_names = band_names
    return found


def data_compat(config):
    """How a run reads its light curves: "original" (the original code's
    cleaning and float32-first centring, set by astromer-finetune for
    weights converted from an original checkpoint, as astromer-embed reads
    them) or "default" (the papers')."""
    return (config.get("data") or {}).get("compat") or "default"


def check_band_present(light_curves, config):
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


def pipeline_config(model, config):
    """The run's pretraining preprocessor for `model` (`config`: the
    resolved preset or a run's config.yaml)."""
    return PretrainingPreprocessor.from_preset(config, model.backbone)


def make_inputs(data, config, model, batch_size, epochs, initial_epoch, strategy=None, distribution=None):
    """(train, val, steps_per_epoch, validation_steps) ready for `fit`
    (or `Distribution.fit`); `batch_size` is the global batch.
    Under a TensorFlow strategy or with several workers
    (`distribution`), see `worker_inputs`."""
    from astromer.data.datasets import NumpyWindowDataset

    pipeline = pipeline_config(model, config)
    if distribution is not None and (distribution.multi_worker or distribution.strategy is not None):
        return worker_inputs(data, pipeline, batch_size, epochs, initial_epoch, distribution)
    use_tf = data.kind == "tfrecords" or (tensorflow_available() and keras_backend() == "tensorflow")
    if use_tf:
        import tensorflow as tf

        from astromer.data.tf_dataset import tf_dataset

        options = tf.data.Options()
        # Several workers each read whole record files (>= 8 shards per split).
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.FILE if data.kind == "tfrecords"
            else tf.data.experimental.AutoShardPolicy.DATA
        )
        options.deterministic = True
        train, steps = tf_dataset(data.train, pipeline, batch_size, mode="pretrain", epochs=epochs,
                                  initial_epoch=initial_epoch, options=options)
        val, val_steps = tf_dataset(data.val, pipeline, batch_size, mode="eval", options=options, cache=True)
        # Keras keeps one validation iterator across epochs when the steps
        # are given: repeat, so each epoch validates on one full pass.
        return train, val.repeat(), steps, val_steps
    # Worker threads prepare the next batches while the device trains
    # (NumPy releases the GIL in the array work).
    workers = dict(workers=min(4, os.cpu_count() or 1), max_queue_size=8)
    train = NumpyWindowDataset(data.train, pipeline, batch_size, mode="pretrain", initial_epoch=initial_epoch, **workers)
    val = NumpyWindowDataset(data.val, pipeline, batch_size, mode="eval", **workers)
    return train, val, None, None


def worker_inputs(data, pipeline, batch_size, epochs, initial_epoch, distribution):
    """One worker's share of a run over several replicas: its shard of the training
    light curves (record files by worker, table rows by a hash of the id),
    `batch_size / workers` of each global batch, and the same number of
    steps per epoch as every other worker (the smallest shard decides:
    each worker computes every shard's size). Windows and masks are those
    of a single-process run: they depend on the light curve, not on who
    reads it.

    Validation: TensorFlow workers read their shard of it when every
    worker has one (its iterator ends all workers together), else all of
    it; JAX processes all read all of it (a global batch needs the same
    shape from every process), which gives the single-process numbers.
    """
    from astromer.data.datasets import NumpyWindowDataset
    from astromer.errors import TooFewLightCurves
    from astromer.data.tf_dataset import shard_sizes, tf_dataset

    workers, worker = distribution.workers, distribution.worker
    per_worker = batch_size // workers
    per_replica = batch_size // distribution.replicas
    sizes = shard_sizes(data.train, workers)
    steps = min(size // per_worker for size in sizes)
    if steps < 1:
        raise TooFewLightCurves(f"the {workers} workers' shards hold {sizes} light curves; each worker's share of "
                                f"the global batch {batch_size} is {per_worker}, which the smallest does not fill.")
    use_tf = data.kind == "tfrecords" or distribution.strategy is not None
    if distribution.strategy is not None:
        import tensorflow as tf

        from astromer.distribute.tf_steps import distribute

        options = tf.data.Options()
        options.deterministic = True
        local = distribution.replicas // workers
        shard_val = min(shard_sizes(data.val, workers)) > 0 if data.kind != "tfrecords" else \
            _files_per_worker(data.val, workers)

        def train_fn(index, count):
            return tf_dataset(data.train, pipeline, per_replica, mode="pretrain", epochs=epochs,
                              initial_epoch=initial_epoch, options=options, shard=(index, count),
                              steps_per_epoch=steps * local)[0]

        def val_fn(index, count):
            return tf_dataset(data.val, pipeline, per_replica, mode="eval", options=options, cache=True,
                              shard=(index, count) if shard_val else None)[0]

        strategy = distribution.strategy
        return distribute(strategy, train_fn), distribute(strategy, val_fn), steps, None
    if use_tf:
        train = tf_dataset(data.train, pipeline, per_worker, mode="pretrain", epochs=epochs,
                           initial_epoch=initial_epoch, shard=(worker, workers), steps_per_epoch=steps)[0]
        val, val_steps = tf_dataset(data.val, pipeline, per_worker, mode="eval", cache=True)
        return train, val.repeat(), steps, val_steps
    threads = dict(workers=min(4, os.cpu_count() or 1), max_queue_size=8)
    train = NumpyWindowDataset(data.train.shard(worker, workers), pipeline, per_worker, mode="pretrain",
                               initial_epoch=initial_epoch, steps=steps, **threads)
    val = NumpyWindowDataset(data.val, pipeline, per_worker, mode="eval", **threads)
    return train, val, None, None


def _files_per_worker(split, workers):
    from astromer.data.records import record_files

    return len(record_files(split)) >= workers


def split_size(split):
    """Light curves in a split (packed light curves or a record folder)."""
    from astromer.data.datasets import PackedLightCurves

    if isinstance(split, PackedLightCurves):
        return len(split)
    from astromer.data.tf_dataset import shard_sizes

    return int(sum(shard_sizes(split, 1)))


def held_out_data(model, split, config, batch_size, mode):
    """`split` (packed light curves or a TFRecord folder) as `model`'s
    windows in pipeline `mode` ("eval" or "inference")."""
    from astromer.data.datasets import NumpyWindowDataset, PackedLightCurves

    pipeline = pipeline_config(model, config)
    if isinstance(split, PackedLightCurves):
        return NumpyWindowDataset(split, pipeline, batch_size, mode=mode)
    from astromer.data.tf_dataset import tf_dataset

    return tf_dataset(split, pipeline, batch_size, mode=mode)[0]
