"""What a run trains: the `Pretrainer` its configuration describes, and the
optimizer of its `pretraining` settings."""

from astromer import presets
from astromer.training.settings import ConfigError


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
