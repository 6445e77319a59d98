"""Masked-reconstruction training runs: configuration, data, checkpoints, resume.

`astromer-train` and `astromer-finetune` are thin command lines over
`pretrain()` here. A run folder holds:

    config.yaml            the resolved configuration (preset + --set + demo)
    checkpoints/latest     name of the newest complete checkpoint folder
    checkpoints/epoch-NNNNN/{model.keras, state.json}   written atomically
    best.weights.h5        weights of the best validation loss so far
    history.csv            one row per epoch (CSVLogger)
    tensorboard/           TensorBoard logs
    learning_curves.png    loss / RMSE / R2 per epoch
    model.keras            the final Pretrainer (best weights)
    backbone.weights.h5    its backbone's weights
    summary.json           final numbers and timings

Checkpoints are written to a temporary folder and renamed, then `latest` is
replaced with `os.replace`: a kill at any moment leaves the previous
complete checkpoint in place, so `--resume` loses at most one epoch.
Random windows and probe masks depend only on (seed, epoch, light curve), and
the dropout generators' states are saved, so a resumed run continues the
same sequence.
"""

import json
import os
import shutil
import time

import numpy as np

from astromer import presets

DEMO_DEFAULTS = {"light_curves": 1500, "seed": 0}


class ConfigError(ValueError):
    """A bad preset, setting or data path, found before any training starts."""


def resolve_config(preset, overrides=(), demo=False):
    """The preset, then (for the demo) its `demo` section, then `--set` overrides.

    Raises `ConfigError` (a `ValueError`) naming an unknown preset or setting.
    """
    try:
        config = presets.load_preset(preset)
        demo_section = config.pop("demo", {}) or {}
        if demo:
            demo_overrides = [f"{k}={v}" for k, v in demo_section.items() if "." in k]
            config = presets.apply_overrides(config, demo_overrides)
            config["demo"] = {**DEMO_DEFAULTS, **{k: v for k, v in demo_section.items() if "." not in k}}
        return presets.apply_overrides(config, overrides)
    except ConfigError:
        raise
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError(str(error)) from error


def _plain(value):
    # Configs taken from a built model hold Keras' tracked list wrappers and
    # NumPy scalars, which safe_dump refuses.
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_config(config, path):
    import yaml

    with open(path, "w") as f:
        yaml.safe_dump(_plain(config), f, sort_keys=False)


def read_config(path):
    import yaml

    with open(path) as f:
        return yaml.safe_load(f)


def tensorflow_available():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------- data


class TrainingData:
    """Train / validation (/ test) inputs for `fit`, whichever path they use."""

    def __init__(self, kind, train, val, test=None, description=""):
        self.kind = kind  # "tfrecords", "packed"
        self.train, self.val, self.test = train, val, test
        self.description = description


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


def prepare_data(data, config, out_dir, input_path="auto", verbose=True):
    """Finds or builds the training data; fails before training naming the path.

    `data`: None (the demo survey), a TFRecord folder (with `train/` and
    `val/` subfolders, as `pipelines/make_records.py` writes), or a
    Parquet/CSV table (cleaned and split 80/10/10 with the run's seed).
    """
    from astromer.data.cleaning import CleaningReport, clean_light_curves
    from astromer.data.datasets import PackedLightCurves

    seed = int(config["pretraining"].get("seed", 0))
    use_tf = input_path == "tfdata" or (input_path == "auto" and tensorflow_available())
    if input_path == "tfdata" and not tensorflow_available():
        raise ConfigError("--input tfdata needs TensorFlow, which is not installed; use --input numpy.")
    cleaning = {"min_observations": config.get("data", {}).get("min_observations", 5)}

    if data is None:
        from astromer.data.demo import simulate_survey

        demo = config.get("demo", DEMO_DEFAULTS)
        n, demo_seed = int(demo["light_curves"]), int(demo.get("seed", 0))
        # Multi-band presets get a two-band demo survey.
        bands = ["g", "r"] if config["model"].get("band_names") else None
        if bands:
            config["model"]["band_names"] = bands
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
            return TrainingData("tfrecords", *(_split_dirs(folder)), description=description + f" in {folder}")
        packed = PackedLightCurves.from_light_curves(simulate_survey(n, seed=demo_seed, bands=bands), band_names=bands)
        train, val, test = packed.split(seed=demo_seed)
        return TrainingData("packed", train, val, test, description)

    data = os.fspath(data)
    if not os.path.exists(data):
        raise ConfigError(f"Data path {data!r} does not exist.")
    if os.path.isdir(data) and _has_records(data):
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
        if config["model"].get("band_names") == "auto":
            manifest = os.path.join(data, "manifest.json")
            names = json.load(open(manifest)).get("band_names") if os.path.exists(manifest) else None
            if not names:
                raise ConfigError(f"{data!r} has no multi-band manifest (band_names); write it with pipelines/make_records.py.")
            config["model"]["band_names"] = names
        if use_tf:
            return TrainingData("tfrecords", train, val, test, f"TFRecords in {data}")
        from astromer.data.records import read_records

        packs = [PackedLightCurves.from_light_curves(read_records(s)) if s else None for s in (train, val, test)]
        return TrainingData("packed", *packs, description=f"TFRecords in {data} (NumPy path)")

    # A table: Parquet/CSV file or folder.
    from astromer.data.lightcurves import iter_light_curves

    try:
        report = CleaningReport()
        light_curves = list(clean_light_curves(
            (select_band(lc, config) for lc in iter_light_curves(data)), cleaning, report))
        band_names = resolve_band_names(config, light_curves)
        packed = PackedLightCurves.from_light_curves(light_curves, band_names=band_names)
    except (ValueError, FileNotFoundError, OSError) as error:
        raise ConfigError(f"Cannot use {data!r} as training data: {error}") from error
    if verbose:
        print(report.summary())
    train, val, test = packed.split(seed=seed)
    return TrainingData("packed", train, val, test, f"table {data} ({len(packed)} light curves, 80/10/10 split)")


def pipeline_config(model, config):
    """The windowing/masking settings of `model` and the run's `config`."""
    from astromer.data.datasets import PipelineConfig

    masking = {k: v for k, v in config.get("data", {}).items() if k not in ("min_observations", "band")}
    return PipelineConfig(
        window_size=model.backbone.window_size,
        masking=masking,
        seed=int(config["pretraining"].get("seed", 0)),
        input_names=model.backbone.input_names,
        num_bands=len(getattr(model.backbone, "band_names", None) or []),
    )


def select_band(lc, config):
    """Single-band models on multi-band data: keep `data.band`; a light
    curve with several bands and no band chosen fails with the names."""
    from astromer.data.lightcurves import LightCurve

    if lc.band is None or config["model"].get("band_names"):
        return lc
    wanted = config.get("data", {}).get("band")
    names = np.asarray(lc.band).astype(str)
    if wanted is None:
        bands = sorted(set(names))
        if len(bands) > 1:
            raise ValueError(
                f"light curve {lc.id!r} has bands {bands}; this single-band model needs one: "
                "--set data.band=NAME, or a multi-band preset (e.g. a2-mb)."
            )
        return lc
    keep = names == str(wanted)
    return LightCurve(lc.id, lc.time[keep], lc.mag[keep], lc.err[keep], band=lc.band[keep], label=lc.label, meta=lc.meta)


def resolve_band_names(config, light_curves):
    """Fills `model.band_names: auto` with the sorted bands of the data."""
    names = config["model"].get("band_names")
    if names == "auto":
        names = sorted({str(b) for lc in light_curves if lc.band is not None for b in np.unique(lc.band)})
        if not names:
            raise ValueError("band_names: auto needs a band column in the data.")
        config["model"]["band_names"] = names
    return names or None


def make_inputs(data, config, model, batch_size, epochs, initial_epoch, strategy=None):
    """(train, val, steps_per_epoch, validation_steps) ready for `fit`."""
    from astromer.data.datasets import NumpyWindowDataset

    pipeline = pipeline_config(model, config)
    use_tf = data.kind == "tfrecords" or (tensorflow_available() and _backend() == "tensorflow")
    if use_tf:
        import tensorflow as tf

        from astromer.data.datasets import tf_dataset

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


def _backend():
    import keras

    return keras.backend.backend()


# ----------------------------------------------------------------- model


def make_optimizer(settings):
    import keras

    from astromer.schedules import LinearWarmup

    name = settings.get("optimizer", "adam").lower()
    rate = float(settings["learning_rate"])
    warmup = int(settings.get("warmup_steps", 0) or 0)
    common = dict(
        learning_rate=LinearWarmup(rate, warmup) if warmup else rate,
        beta_1=float(settings.get("beta_1", 0.9)),
        beta_2=float(settings.get("beta_2", 0.999)),
        epsilon=float(settings.get("epsilon", 1e-7)),
    )
    if name == "adam":
        return keras.optimizers.Adam(**common)
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=float(settings.get("weight_decay", 0.01)), **common)
    raise ConfigError(f"Unknown optimizer {name!r} in pretraining.optimizer; use 'adam' or 'adamw'.")


def build_pretrainer(config):
    from astromer.models.pretrainer import Pretrainer

    model_config = dict(config["model"])
    class_name = model_config.pop("class")
    try:
        backbone = presets.backbone_class(class_name)(**model_config)
    except (ValueError, TypeError) as error:
        # A bad `model.*` setting: report it like the other settings.
        raise ConfigError(f"model settings: {error}") from error
    return Pretrainer(backbone, uncertainty_weighted=bool(config["pretraining"].get("uncertainty_weighted", False)))


# ----------------------------------------------------------------- strategy


def make_strategy(kind="auto"):
    """A `tf.distribute` strategy (TF backend) or sets a `keras.distribution`
    (JAX). Returns `(strategy or None, number of replicas)`.

    kind: "auto" (MultiWorkerMirrored when TF_CONFIG is set, Mirrored with
    several GPUs, JAX DataParallel with several devices, else none),
    "none", "mirrored", "multiworker", "data-parallel" (JAX).
    """
    import keras

    backend = keras.backend.backend()
    if kind == "none":
        return None, 1
    if backend == "tensorflow":
        import tensorflow as tf

        if kind == "multiworker" or (kind == "auto" and os.environ.get("TF_CONFIG")):
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            return strategy, strategy.num_replicas_in_sync
        gpus = tf.config.list_logical_devices("GPU")
        if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
            devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices)
            return strategy, strategy.num_replicas_in_sync
        if kind in ("auto",):
            return None, 1
        raise ConfigError(f"--strategy {kind} is not available on the TensorFlow backend.")
    if backend == "jax":
        import jax

        devices = jax.devices()
        if kind == "data-parallel" or (kind == "auto" and len(devices) > 1):
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            return None, len(devices)
        if kind == "auto":
            return None, 1
        raise ConfigError(f"--strategy {kind} is not available on the JAX backend (use data-parallel).")
    if kind == "auto":
        return None, 1
    raise ConfigError(f"--strategy {kind} is not supported on the {backend} backend.")


# ----------------------------------------------------------------- callbacks


def _seed_states(model):
    return [v for v in model.variables if "seed_generator_state" in v.path]


def _atomic_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)


def _callback_base():
    import keras

    return keras.callbacks.Callback


class TrainingCheckpoint(_callback_base()):
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
        if value is not None and value < self.best:
            self.best, self.best_epoch = float(value), int(epoch)
            tmp = os.path.join(self.run_dir, "best.tmp.weights.h5")
            self.model.save_weights(tmp)
            os.replace(tmp, os.path.join(self.run_dir, "best.weights.h5"))
        name = f"epoch-{epoch:05d}"
        tmp_dir = os.path.join(self.directory, f".{name}.tmp")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.makedirs(tmp_dir)
        self.model.save(os.path.join(tmp_dir, "model.keras"))
        state = {
            "epoch": int(epoch),
            "logs": {k: float(v) for k, v in logs.items()},
            "best": self.best,
            "best_epoch": self.best_epoch,
            "early_stopping_wait": int(getattr(self.early_stopping, "wait", 0)),
            "seed_states": [np.asarray(v.numpy() if hasattr(v, "numpy") else v).tolist() for v in _seed_states(self.model)],
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


class Throughput(_callback_base()):
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


def latest_checkpoint(run_dir):
    """`(folder, state)` of the newest complete checkpoint of a run, or None."""
    pointer = os.path.join(run_dir, "checkpoints", "latest")
    if not os.path.exists(pointer):
        return None
    with open(pointer) as f:
        folder = os.path.join(run_dir, "checkpoints", f.read().strip())
    with open(os.path.join(folder, "state.json")) as f:
        return folder, json.load(f)


def _early_stopping(patience, wait=0, best=np.inf):
    import keras

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        """EarlyStopping that starts from a saved counter and best value."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self.wait, self.best = wait, best

    return ResumableEarlyStopping(monitor="val_loss", patience=int(patience), verbose=1)


# ----------------------------------------------------------------- run


def pretrain(config, data, out_dir, resume=False, strategy_kind="auto", verbose=1,
             input_path="auto", initial_model=None, deterministic=False):
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
    """
    import keras

    settings = config["pretraining"]
    seed = int(settings.get("seed", 0))
    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    if deterministic and _backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    checkpoint = latest_checkpoint(out_dir) if resume else None
    if resume and checkpoint is None:
        print(f"no checkpoint in {out_dir}: starting from epoch 1")
    strategy, replicas = make_strategy(strategy_kind)
    batch_size = int(settings["batch_size"]) * replicas
    epochs = int(settings["epochs"])
    scope = strategy.scope() if strategy is not None else _null_scope()
    with scope:
        if checkpoint is not None:
            folder, state = checkpoint
            model = keras.saving.load_model(os.path.join(folder, "model.keras"))
            for variable, value in zip(_seed_states(model), state["seed_states"]):
                variable.assign(np.asarray(value, dtype=variable.dtype))
            initial_epoch = state["epoch"] + 1
            print(f"resuming {out_dir} after epoch {initial_epoch} (best val_loss {state['best']:.5f})")
        else:
            state = {"best": np.inf, "best_epoch": -1, "early_stopping_wait": 0}
            model = initial_model if initial_model is not None else build_pretrainer(config)
            # XLA: about 30% faster on CPU than TF's graph executor (and what
            # JAX always does). PyTorch: each step one traced, compiled graph
            # (astromer.torch_graph).
            model.compile(make_optimizer(settings), jit_compile=True)
            initial_epoch = 0
    write_config(config, os.path.join(out_dir, "config.yaml"))
    if initial_epoch >= epochs:
        print(f"{out_dir} already finished its {epochs} epochs")
    train, val, steps, val_steps = make_inputs(data, config, model, batch_size, epochs, initial_epoch, strategy)

    early = _early_stopping(settings.get("patience", 20), state["early_stopping_wait"], state["best"])
    callbacks = [
        Throughput(batch_size),
        TrainingCheckpoint(out_dir, early_stopping=early, best=state["best"], best_epoch=state["best_epoch"]),
        keras.callbacks.CSVLogger(os.path.join(out_dir, "history.csv"), append=initial_epoch > 0),
        early,
    ]
    if tensorflow_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard")))
    if verbose:
        print(f"training {model.backbone.__class__.__name__} ({model.count_params():,} parameters) on "
              f"{data.description}; batch {batch_size} ({replicas} replica(s)), up to {epochs} epochs; run folder {out_dir}")
    start = time.time()
    if initial_epoch < epochs:
        model.fit(train, validation_data=val, epochs=epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=steps, validation_steps=val_steps, callbacks=callbacks, verbose=verbose)
    elapsed = time.time() - start
    return finish_run(model, out_dir, elapsed, data, config, batch_size)


def evaluate_masked(model, split, config, batch_size):
    """Masked-reconstruction loss, RMSE and R2 on the probed steps of a
    held-out split: one random window per light curve with its probe masks,
    the same for every model and run with the same seed (epoch 0 draws)."""
    result = model.evaluate(_held_out_data(model, split, config, batch_size, "eval"), verbose=0, return_dict=True)
    return {k: float(result[k]) for k in ("loss", "rmse", "r2")}


def _held_out_data(model, split, config, batch_size, mode):
    """`split` (packed light curves or a TFRecord folder) as `model`'s
    windows in pipeline `mode` ("eval" or "inference")."""
    from astromer.data.datasets import NumpyWindowDataset, PackedLightCurves

    pipeline = pipeline_config(model, config)
    if isinstance(split, PackedLightCurves):
        return NumpyWindowDataset(split, pipeline, batch_size, mode=mode)
    from astromer.data.datasets import tf_dataset

    return tf_dataset(split, pipeline, batch_size, mode=mode)[0]


def finish_run(model, out_dir, elapsed, data, config, batch_size=256):
    """Restores the best weights, saves the final model, plots, writes the
    summary (with the held-out test metrics when there is a test split)."""
    import pandas as pd

    from astromer.plots import learning_curves

    best = os.path.join(out_dir, "best.weights.h5")
    if os.path.exists(best):
        model.load_weights(best)
    model.save(os.path.join(out_dir, "model.keras"))
    model.backbone.save_weights(os.path.join(out_dir, "backbone.weights.h5"))
    history = pd.read_csv(os.path.join(out_dir, "history.csv"))
    learning_curves(history.to_dict("list"), os.path.join(out_dir, "learning_curves.png"),
                    title=f"{config.get('name', 'astromer')} pretraining")
    summary = {
        "epochs_run": int(len(history)),
        "best_epoch": int(history["val_loss"].idxmin()) + 1 if "val_loss" in history else None,
        "best_val_loss": float(history["val_loss"].min()) if "val_loss" in history else None,
        "final": {k: float(v) for k, v in history.iloc[-1].items() if k != "epoch"},
        "seconds_this_session": round(elapsed, 1),
        "train_windows_per_s": float(history["windows_per_s"].iloc[-1]) if "windows_per_s" in history else None,
        # Whether the step was compiled (XLA; PyTorch: one Inductor graph);
        # off under TF op determinism.
        "xla": bool(getattr(model, "jit_compile", False)),
        "data": data.description,
    }
    if data.test is not None:
        summary["test"] = evaluate_masked(model, data.test, config, batch_size)
    _atomic_json(os.path.join(out_dir, "summary.json"), summary)
    return summary


def evaluate_reconstruction(model, split, config, batch_size=256):
    """RMSE and R2 of the reconstruction on ALL observations of every
    sequential window, without masking (Astromer 2 paper, Sect. 5.2: the
    probed subset is random, so finetuning is compared on all points)."""
    result = model.evaluate(_held_out_data(model, split, config, batch_size, "inference"), verbose=0,
                            return_dict=True)
    return {"rmse": float(result["rmse"]), "r2": float(result["r2"])}


def load_for_finetuning(weights, preset=None, overrides=()):
    """`(Pretrainer, config)` from a run folder, a `.keras` model, an
    original checkpoint (folder or legacy `.h5`) or a `.weights.h5` file
    (with `preset`).

    `model.*` overrides change the loaded model's settings where the weights
    still fit (e.g. `model.dropout=0`); one that changes the architecture
    fails naming it.
    """
    overrides = list(overrides or ())
    model, config = _load_weights(weights, preset, [o for o in overrides if not o.startswith("model.")])
    changes = [o for o in overrides if o.startswith("model.")]
    if not changes:
        return model, config
    try:
        config = presets.apply_overrides(config, changes)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    try:
        rebuilt = model.with_settings(**{k: v for k, v in config["model"].items() if k != "class"})
    except ValueError as error:
        raise ConfigError(f"{changes} cannot apply to {weights!r} ({error}); only settings that keep the "
                          "architecture, such as model.dropout, can change when loading weights.") from None
    return rebuilt, config


def _load_weights(weights, preset, overrides):
    import keras

    from astromer.convert import load_original

    weights = os.fspath(weights)
    if not os.path.exists(weights):
        raise ConfigError(f"Weights {weights!r} do not exist.")
    if os.path.isdir(weights) and os.path.exists(os.path.join(weights, "model.keras")):
        model = keras.saving.load_model(os.path.join(weights, "model.keras"))
        config = read_config(os.path.join(weights, "config.yaml"))
        return model, presets.apply_overrides(config, overrides)
    if weights.endswith(".keras"):
        model = keras.saving.load_model(weights)
        config = resolve_config(preset or "a2", overrides)
        config["model"] = {"class": type(model.backbone).__name__, **{
            k: v for k, v in model.backbone.get_config().items() if k not in ("name", "trainable")}}
        return model, config
    if weights.endswith(".weights.h5"):
        if preset is None:
            raise ConfigError(f"{weights!r} holds weights only: give the --preset they belong to.")
        config = resolve_config(preset, overrides)
        model = build_pretrainer(config)
        try:
            model.load_weights(weights)
        except ValueError:
            model.backbone.load_weights(weights)
        return model, config
    model = load_original(weights, preset=preset)
    config = resolve_config(preset or ("a1-original" if model.backbone.num_layers == 2 and
                                       model.backbone.mask_alpha == 1.0 else "a2-original"), overrides)
    config["model"] = {"class": "AstromerBackbone", **{
        k: v for k, v in model.backbone.get_config().items() if k not in ("name", "trainable")}}
    return model, config


class _null_scope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
