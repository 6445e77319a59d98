"""The `astromer-train` workflow: settings from a preset (or a run to
resume), the data, the training loop, and the one-line report."""

import os

from astromer import presets
from astromer.training.data import prepare_data, split_size
from astromer.training.loop import finished_run, pretrain
from astromer.training.scaling import fit_to_data, without_rule_keys
from astromer.training.settings import (ConfigError, check_new_run_dir, config_errors, default_run_dir,
                                       resolve_config, resumed_config)


def run_pretraining(preset="a2", data=None, overrides=(), out=None, resume=False, strategy="auto",
                    input_path="auto", deterministic=False, quiet=False, global_batch=None, coordinator=None,
                    num_processes=None, process_id=None, cluster_timeout=None):
    """Pretrains (or resumes, `resume=True` with `out`) and prints where the
    outputs are. Returns `(run folder, summary dict)`.

    A bad preset, setting, data path or table raises `ConfigError` before
    any training starts and before the run folder is created; so does a
    setting that fails when training starts (optimizer, strategy, a batch
    the data does not fill).

    With `data`, the batch, learning rate and warm-up not given in
    `overrides` follow the training split's size (`astromer.training.scaling`);
    the values and where each came from are printed first.

    A finished run resumed without more epochs (`pretraining.epochs`, the
    `--epochs` of the command) says so in one line and returns its summary:
    nothing is loaded or trained.

    Args:
        preset: preset name or YAML file; its `demo` section applies when
            `data` is None (the simulated demo survey).
        data: TFRecord folder, Parquet/CSV table, or None.
        overrides: `section.key=value` settings, applied last.
        out: run folder; default `runs/<config name>-<time>`.
        strategy: see `make_strategy`.
        input_path: "auto", "tfdata" or "numpy" (see `prepare_data`).
        deterministic: see `pretrain`.
        quiet: no progress bar.
        global_batch: windows per step over every replica (default
            `pretraining.batch_size` per replica); recorded for --resume.
        coordinator, num_processes, process_id: JAX processes to join
            (default: from the environment; see `cluster.jax_cluster`).
            TensorFlow workers join by `TF_CONFIG`.
        cluster_timeout: seconds to wait for the other workers.
    """
    from astromer.training.cluster import cluster_settings
    from astromer.training.strategy import keras_backend, make_distribution

    with config_errors():
        cluster = cluster_settings(keras_backend(), strategy, coordinator, num_processes, process_id)
        if resume:
            config = resumed_config(out, overrides)
            # One process: a finished run says so and stops here. Several
            # go on to agree on the checkpoint first (docs/distributed.md).
            finished = finished_run(out, config) if not cluster.multi else None
            if finished:
                print(finished[0])
                return out, finished[1]
            data = resumed_data(config, data, out)
        else:
            # The preset's batch and rate (the reference the rule scales
            # from); the command's own come in with `fit_to_data`.
            config = resolve_config(preset, without_rule_keys(overrides), demo=data is None)
            # The run folder records its data, so that --resume continues on it.
            config["run"] = {"data": os.path.abspath(data) if data else None}
        if global_batch is not None:
            config.setdefault("run", {})["global_batch"] = int(global_batch)
        if cluster.multi and not out:
            raise ConfigError("Several workers need --out: the same run folder on every one (each would "
                              "otherwise name its own from the time it started).")
        out = out or default_run_dir(config.get("name", "run"))
        if not resume:
            check_new_run_dir(out)
        if data is not None and not os.path.exists(data):
            raise ConfigError(f"Data path {data!r} does not exist.")
    # Joined before the data is read: TensorFlow's multi-worker strategy
    # must exist before any TensorFlow operation runs (reading records is one).
    distribution = make_distribution(strategy, cluster, cluster_timeout)
    with config_errors():
        training_data = prepare_data(data, config, out, input_path=input_path, write_records=not cluster.multi)
        if not resume:
            name = config.get("name") or preset
            demo = {k: f"preset {name} (demo section)" for k in presets.load_preset(preset).get("demo") or {}
                    if data is None}
            print(fit_to_data(config, overrides, split_size(training_data.train) if data is not None else None,
                              distribution.replicas, global_batch, reference=f"preset {name}", sources=demo))
    summary = pretrain(config, training_data, out, resume=resume, strategy_kind=strategy,
                       verbose=0 if quiet else 1, input_path=input_path, deterministic=deterministic,
                       distribution=distribution)
    written = "" if distribution.chief else " (written by worker 0)"
    print(f"done: {summary['epochs_run']} epochs, best val_loss {summary['best_val_loss']:.4f} "
          f"(epoch {summary['best_epoch']}); outputs in {out}{written}")
    return out, summary


def resumed_data(config, data, out):
    """The data a resumed run continues on: the one recorded in its folder
    (`run.data`; None is the demo survey). A different `--data` is refused:
    the run would silently change what it learns from."""
    if "run" not in config:
        return data  # a run folder written before the data was recorded
    recorded = config["run"].get("data")
    if data is None:
        if recorded is not None:
            print(f"resuming on the run's data: {recorded}")
        return recorded
    if recorded is None or os.path.abspath(data) != recorded:
        raise ConfigError(f"{out} was trained on {recorded or 'the demo survey'}; --resume continues on the same "
                          f"data: drop --data (or start a new run with --out elsewhere for {data!r}).")
    return data
