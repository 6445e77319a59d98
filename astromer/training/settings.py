"""A run's configuration: the preset, the demo section and `--set` overrides,
resolved to one dict and saved as the run folder's `config.yaml`."""

import os
from contextlib import contextmanager
from datetime import datetime

import numpy as np

from astromer import presets
from astromer.errors import AstromerError

DEMO_DEFAULTS = {"light_curves": 1500, "seed": 0}


class ConfigError(AstromerError):
    """A bad preset, setting or data path, found before any training starts."""


@contextmanager
def config_errors():
    """Reports the `ValueError` / `FileNotFoundError` of reading settings,
    weights or data as a `ConfigError` with the same message, so that a
    command line tells them apart from failures during training."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError(str(error)) from error


def resolve_config(preset, overrides=(), demo=False):
    """The preset, then (for the demo) its `demo` section, then `--set` overrides.

    Raises `ConfigError` (a `ValueError`) naming an unknown preset or setting.
    """
    with config_errors():
        config = presets.load_preset(preset)
        demo_section = config.pop("demo", {}) or {}
        if demo:
            demo_overrides = [f"{k}={v}" for k, v in demo_section.items() if "." in k]
            config = presets.apply_overrides(config, demo_overrides)
            config["demo"] = {**DEMO_DEFAULTS, **{k: v for k, v in demo_section.items() if "." not in k}}
        return presets.apply_overrides(config, overrides)


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
