"""Loading pretrained weights of any kind into a `Pretrainer` with its
configuration: a run folder, a `.keras` model, an original checkpoint, or a
`.weights.h5` file with its preset. Finetuning, embedding and the few-shot
benchmark all start from here."""

import os

from astromer import presets
from astromer.training.model import build_pretrainer
from astromer.training.settings import ConfigError, read_config, resolve_config


def load_for_finetuning(weights, preset=None, overrides=()):
    """`(Pretrainer, config)` from a run folder, a `.keras` model, an
    original checkpoint (folder or legacy `.h5`) or a `.weights.h5` file
    (with `preset`).

    `model.*` overrides change the loaded model's settings where the weights
    still fit (e.g. `model.dropout=0`); one that changes the architecture
    fails naming it.
    """
    overrides = list(overrides or ())
    model, config = load_weights(weights, preset, [o for o in overrides if not o.startswith("model.")])
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


def load_weights(weights, preset=None, overrides=()):
    """`(Pretrainer, config)` of `weights` as saved, with non-model `overrides`
    applied to the configuration (see `load_for_finetuning`)."""
    import keras

    from astromer.models.pretrainer import Pretrainer

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
        config["model"] = _backbone_settings(type(model.backbone).__name__, model)
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
    model = Pretrainer.from_original_checkpoint(weights, preset=preset)
    config = resolve_config(preset or ("a1-original" if model.backbone.num_layers == 2 and
                                       model.backbone.mask_alpha == 1.0 else "a2-original"), overrides)
    config["model"] = _backbone_settings("AstromerBackbone", model)
    return model, config


def _backbone_settings(class_name, model):
    """The `model` section describing a loaded model's backbone."""
    return {"class": class_name, **{
        k: v for k, v in model.backbone.get_config().items() if k not in ("name", "trainable")}}
