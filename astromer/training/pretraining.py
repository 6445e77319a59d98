"""The `astromer-train` workflow: a run's settings (`TrainSettings`), its
data, the training loop, and the one-line report."""

import os

from astromer import presets
from astromer.backend import keras_backend
from astromer.core.factory import config_errors
from astromer.distribute import make_distribution
from astromer.distribute.cluster import cluster_settings
from astromer.errors import ConfigError
from astromer.preprocessing.pretraining_data import PretrainingData
from astromer.training.loop import finished_run, pretrain
from astromer.training.scaling import fit_to_data
from astromer.training.settings import check_new_run_dir, default_run_dir


def run(settings):
    """Pretrains (or resumes) as `settings` (a resolved `TrainSettings`) say
    and prints where the outputs are. Returns `(run folder, summary dict)`.

    A bad setting, data path or table raises `ConfigError` before any
    training starts and before the run folder is created; so does a setting
    that fails when training starts (optimizer, strategy, a batch the data
    does not fill). With data, the batch, learning rate and warm-up not
    given in `overrides` follow the training split's size
    (`astromer.training.scaling`), printed with their sources first. A
    finished run resumed without more epochs says so in one line and
    returns its summary: nothing is loaded or trained.
    """
    config, data, out = settings.config, settings.data, settings.out
    with config_errors():
        cluster = settings.cluster or cluster_settings(keras_backend(), settings.strategy)
        if settings.resume:
            # One process: a finished run says so and stops here. Several
            # go on to agree on the checkpoint first (docs/distributed.md).
            finished = finished_run(out, config) if not cluster.multi else None
            if finished:
                print(finished[0])
                return out, finished[1]
            data = resumed_data(config, data, out)
        if cluster.multi and not out:
            raise ConfigError("Several workers need --out: the same run folder on every one (each would "
                              "otherwise name its own from the time it started).")
        out = out or default_run_dir(config.get("name", "run"))
        if not settings.resume:
            check_new_run_dir(out)
        if data is not None and not os.path.exists(data):
            raise ConfigError(f"Data path {data!r} does not exist.")
    # Joined before the data is read: TensorFlow's multi-worker strategy
    # must exist before any TensorFlow operation runs (reading records is one).
    distribution = make_distribution(settings.strategy, cluster, settings.cluster_timeout)
    with config_errors():
        training_data = PretrainingData.open(data, config, input_path=settings.input_path,
                                             write_records=not cluster.multi)
        if not settings.resume:
            name = config.get("name") or settings.preset
            demo = {k: f"preset {name} (demo section)" for k in presets.load_preset(settings.preset).get("demo") or {}
                    if data is None}
            print(fit_to_data(config, settings.overrides, training_data.train_size if data is not None else None,
                              distribution.replicas, settings.global_batch, reference=f"preset {name}", sources=demo))
    summary = pretrain(config, training_data, out, resume=settings.resume, verbose=0 if settings.quiet else 1,
                       deterministic=settings.deterministic, distribution=distribution)
    written = "" if distribution.chief else " (written by worker 0)"
    print(f"done: {summary['epochs_run']} epochs, best val_loss {summary['best_val_loss']:.4f} "
          f"(epoch {summary['best_epoch']}); outputs in {out}{written}")
    return out, summary


def resumed_data(config, data, out):
    """The data a resumed run continues on: the one recorded in its folder
    (`run.data`; None is the demo survey). A different `--data` is refused:
    the run would silently change what it learns from."""
    if "data" not in (config.get("run") or {}):
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
