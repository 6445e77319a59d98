"""Loading pretrained weights of any kind into a `Pretrainer` with its
configuration: a run folder, a `.keras` model, an original checkpoint, or a
`.weights.h5` file with its preset. Finetuning, embedding and the few-shot
benchmark all start from here."""

import os

from astromer import presets
from astromer.errors import WeightsError
from astromer.training.model import build_pretrainer, make_optimizer
from astromer.training.settings import ConfigError, read_config, resolve_config


class UnreadableWeights(WeightsError, ConfigError):
    """Weights that are missing or damaged, as `load_weights` reports them:
    a `WeightsError` naming the file, what is wrong and what to do, and the
    `ConfigError` these were before."""


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
        return _compiled(model, config), config
    try:
        config = presets.apply_overrides(config, changes)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    try:
        rebuilt = model.with_settings(**{k: v for k, v in config["model"].items() if k != "class"})
    except ValueError as error:
        raise ConfigError(f"{changes} cannot apply to {weights!r} ({error}); only settings that keep the "
                          "architecture, such as model.dropout, can change when loading weights.") from None
    return _compiled(rebuilt, config), config


def _readable(load, path):
    """`load(path)`, a damaged file reported as `UnreadableWeights` and
    another unusable one as a `ConfigError`, both naming it."""
    try:
        return load(path)
    except WeightsError:
        raise
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _compiled(model, config):
    """`model` compiled with the run's optimizer: a model loaded for
    training is scored (`evaluate`) before `fit`, and only a run folder's
    model.keras comes back compiled (an original checkpoint, a bare .keras or
    weights with `with_settings` applied do not)."""
    model.compile(make_optimizer(config["pretraining"]))
    return model


def load_weights(weights, preset=None, overrides=()):
    """`(Pretrainer, config)` of `weights` as saved, with non-model `overrides`
    applied to the configuration (see `load_for_finetuning`).

    Missing or damaged weights (an empty, truncated or damaged `.keras`,
    `.weights.h5` or `.h5` file; a checkpoint's missing or truncated index or
    data file; an unreadable conf.json) raise `UnreadableWeights`, a
    `WeightsError` naming the file, what is wrong with it and what to do."""
    try:
        return _load_weights(os.fspath(weights), preset, overrides)
    except UnreadableWeights:
        raise
    except WeightsError as error:
        raise UnreadableWeights(str(error)).with_traceback(error.__traceback__) from None


def _load_weights(weights, preset, overrides):
    from astromer.models.pretrainer import Pretrainer
    from astromer.saving import check_h5, load_keras
    from astromer.weights_path import resolve_weights_path

    weights = resolve_weights_path(weights, preset)
    if os.path.isdir(weights) and os.path.exists(os.path.join(weights, "model.keras")):
        model = _readable(load_keras, os.path.join(weights, "model.keras"))
        config = read_config(os.path.join(weights, "config.yaml"))
        return model, presets.apply_overrides(config, overrides)
    if weights.endswith(".keras"):
        model = _readable(load_keras, weights)
        if not hasattr(model, "backbone"):
            raise ConfigError(f"{weights!r} holds a {type(model).__name__}, which has no encoder: pass a model with "
                              "one (a run folder, a Pretrainer or Classifier .keras, an original checkpoint); "
                              "astromer.load_model loads any saved model as it is.")
        config = resolve_config(preset or _preset_of(model), overrides)
        config["model"] = _backbone_settings(type(model.backbone).__name__, model)
        return model, config
    if weights.endswith(".weights.h5"):
        check_h5(weights, ".weights.h5 file")
        config = resolve_config(preset, overrides)
        model = build_pretrainer(config)
        try:
            model.load_weights(weights)
        except ValueError:
            model.backbone.load_weights(weights)
        return model, config
    model = Pretrainer.from_original_checkpoint(weights, preset=preset)
    original = "a1-original" if _preset_of(model) == "a1-original" else "a2-original"
    config = resolve_config(preset or original, overrides)
    config["model"] = _backbone_settings("AstromerBackbone", model)
    return model, config


def _preset_of(model):
    """The preset whose training settings suit a model saved without them
    (a `.keras` file, an original checkpoint): read from its backbone's
    attention mask (the +1 bonus of the original A1 code, the soft -0.5 of
    the original A2 code) and depth."""
    backbone = model.backbone
    if type(backbone).__name__ == "AstroCoBackbone":
        return "astroco-s" if backbone.num_layers <= 4 else "astroco-l"
    from astromer.convert import original_code

    code = original_code(backbone)
    if code is not None:
        return f"{code}-original"
    return "a1" if backbone.num_layers == 2 else "a2"


def _backbone_settings(class_name, model):
    """The `model` section describing a loaded model's backbone."""
    return {"class": class_name, **{
        k: v for k, v in model.backbone.get_config().items() if k not in ("name", "trainable")}}


def load_model(path, preset=None):
    """Any saved astromer model as a Keras model, on any backend: a run
    folder of `astromer-train`, a `.keras` file (no TensorFlow needed), an
    original checkpoint (folder or legacy `.h5`; needs TensorFlow) or a
    `.weights.h5` file with its `preset`.

        import astromer
        model = astromer.load_model("runs/a2")
        embeddings = astromer.embedding.Embedder(model.backbone)(table)

    Raises `astromer.errors.WeightsError` (a ValueError) naming a missing or
    damaged file, what is wrong with it and what to do, and `ConfigError`
    (a ValueError) for other weights that cannot be used.
    """
    from astromer.saving import load_keras
    from astromer.weights_path import resolve_weights_path

    try:
        resolved = resolve_weights_path(os.fspath(path), preset)
        if resolved.endswith(".keras") and os.path.isfile(resolved):
            # As saved, whatever the class (a FeatureClassifier has no
            # backbone for `load_weights` to describe).
            return load_keras(resolved)
    except WeightsError as error:
        raise UnreadableWeights(str(error)) from None
    return load_weights(path, preset)[0]
