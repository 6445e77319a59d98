"""What an `astromer-train` or `astromer-finetune` run does, as data
(`TrainSettings`, `FinetuneSettings`: the command line builds one and
calls `run(settings)`), and the run folder's own settings: its saved
`config.yaml` to resume, a new folder's name and its check."""

import os
from dataclasses import dataclass, field
from datetime import datetime

from astromer import presets
from astromer.core.factory import config_errors, read_config, resolve_config
from astromer.errors import ConfigError
from astromer.training.scaling import check_values, without_rule_keys


@dataclass
class RunSettings:
    """What `astromer-train` and `astromer-finetune` share.

    overrides: `section.key=value` settings, applied last (`--set`, and
        `--epochs N` as `pretraining.epochs=N`).
    out: the run folder (default `runs/<name>-<time>`).
    resume: continue the run in `out` from its last checkpoint.
    strategy: how the run is spread (`astromer.distribute.make_distribution`).
    deterministic: TensorFlow op determinism (`astromer.training.loop.pretrain`).
    quiet: no progress bar.
    """

    overrides: list = field(default_factory=list)
    out: str = None
    resume: bool = False
    strategy: str = "auto"
    deterministic: bool = False
    quiet: bool = False


@dataclass
class TrainSettings(RunSettings):
    """An `astromer-train` run (see `astromer.training.pretraining.run`).

    preset: preset name or YAML file; its `demo` section applies when
        `data` is None (the simulated demo survey).
    data: TFRecord folder, Parquet/CSV table, or None.
    input_path: "auto", "tfdata" or "numpy" (`PretrainingData.open`).
    global_batch: windows per step over every replica (default
        `pretraining.batch_size` per replica); recorded for --resume.
    cluster: the `astromer.distribute.Cluster` to join (default: from
        TF_CONFIG or the JAX environment); cluster_timeout: seconds to wait.
    config: the run's configuration, resolved once by `resolve`.
    """

    preset: str = "a2"
    data: str = None
    input_path: str = "auto"
    global_batch: int = None
    cluster: object = None
    cluster_timeout: float = None
    config: dict = None

    @classmethod
    def resolve(cls, **fields):
        """The settings with `config` resolved, before Keras starts: a run
        folder's saved configuration with `overrides` (`resume`), else the
        preset (with its demo section when there is no `data`) and the
        `overrides` but the batch, rate and warm-up, which
        `astromer.training.scaling.fit_to_data` applies once the data is
        read (their values are checked here)."""
        settings = cls(**fields)
        with config_errors():
            if settings.resume:
                settings.config = resumed_config(settings.out, settings.overrides)
                check_values(settings.config)
            else:
                config = resolve_config(settings.preset, without_rule_keys(settings.overrides),
                                        demo=settings.data is None)
                check_values(presets.apply_overrides(config, settings.overrides))
                # The run folder records its data, so that --resume continues on it.
                config["run"] = {"data": os.path.abspath(settings.data) if settings.data else None}
                settings.config = config
        if settings.global_batch is not None:
            settings.config.setdefault("run", {})["global_batch"] = int(settings.global_batch)
        return settings


@dataclass
class FinetuneSettings(RunSettings):
    """An `astromer-finetune` run (see `astromer.training.finetuning.run`).

    weights: run folder, `.keras` model, original checkpoint, or
        `.weights.h5` with `preset` (`astromer.core.loading.load_for_finetuning`).
    data: TFRecord folder (train/ val/ test/) or Parquet/CSV table.
    preset: the preset of `weights` when it cannot be read from them.
    compat: how the light curves are read, as `astromer-embed --compat`:
        "original" for weights converted from an original checkpoint under
        "auto", else "default" (the papers').
    """

    weights: str = None
    data: str = None
    preset: str = None
    compat: str = "auto"


def resumed_config(run_dir, overrides=()):
    """The saved configuration of the run in `run_dir`, with `--set` overrides."""
    if not run_dir:
        raise ConfigError("--resume needs --out, the run folder to continue.")
    saved = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(saved):
        raise ConfigError(f"{run_dir!r} has no config.yaml: nothing to resume.")
    config = read_config(saved)
    if overrides:
        config = presets.apply_overrides(config, overrides)
    return config


def check_new_run_dir(run_dir):
    """A run started without `--resume` must not silently replace an earlier
    run's checkpoints in the same folder (a ctrl-C there would lose both)."""
    directory = os.path.join(run_dir, "checkpoints")
    if os.path.isdir(directory) and any(n.startswith(("epoch-", "latest")) for n in os.listdir(directory)):
        raise ConfigError(f"{run_dir} holds the checkpoints of an earlier run: continue it with --resume, or give "
                          "another --out (or delete the folder to start again there).")


def default_run_dir(name):
    """`runs/<name>-<date>-<time>`: a new folder for each run started without `--out`."""
    return os.path.join("runs", f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
