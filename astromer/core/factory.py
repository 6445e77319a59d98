"""What a configuration builds: the configuration itself (a preset, its
demo section and `--set` overrides, resolved to one dict; a run folder's
`config.yaml`), the `Pretrainer` it describes and the optimizer of its
`pretraining` settings. Training, embedding, few-shot, export and the
benchmarks build from here."""

from contextlib import contextmanager

from astromer import presets
from astromer.data.demo import DEMO_DEFAULTS
from astromer.errors import ConfigError
from astromer.presets import plain


@contextmanager
def config_errors():
    """Reports the `ValueError` / `FileNotFoundError` of reading settings,
    weights or data as a `ConfigError` with the same message, so that a
    command line tells them apart from failures during a run."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError(str(error)) from error


def resolve_config(preset, overrides=(), demo=False):
    """The preset, then (for the demo) its `demo` section, then `--set` overrides.

    Raises `ConfigError` naming an unknown preset or setting.
    """
    with config_errors():
        config = presets.load_preset(preset)
        demo_section = config.pop("demo", {}) or {}
        if demo:
            demo_overrides = [f"{k}={v}" for k, v in demo_section.items() if "." in k]
            config = presets.apply_overrides(config, demo_overrides)
            config["demo"] = {**DEMO_DEFAULTS, **{k: v for k, v in demo_section.items() if "." not in k}}
        return presets.apply_overrides(config, overrides)


def write_config(config, path):
    import yaml

    with open(path, "w") as f:
        yaml.safe_dump(plain(config), f, sort_keys=False)


def read_config(path):
    import yaml

    with open(path) as f:
        return yaml.safe_load(f)


def make_optimizer(settings):
    """Adam or AdamW of `pretraining` settings (`learning_rate`, `beta_1`,
    `beta_2`, `epsilon`, `weight_decay`), with a linear warm-up over
    `warmup_steps`."""
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
    """The `Pretrainer` of `config`'s `model` section (its backbone `class`
    and arguments) and `pretraining.uncertainty_weighted`."""
    from astromer.models.pretrainer import Pretrainer

    model_config = dict(config["model"])
    class_name = model_config.pop("class")
    try:
        backbone = presets.backbone_class(class_name)(**model_config)
    except (ValueError, TypeError) as error:
        # A bad `model.*` setting: report it like the other settings.
        raise ConfigError(f"model settings: {error}") from error
    return Pretrainer(backbone, uncertainty_weighted=bool(config["pretraining"].get("uncertainty_weighted", False)))
