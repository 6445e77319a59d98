"""Loading a model from any saved form: a run folder of `astromer-train`
(its model.keras), one of its checkpoints (`checkpoints/epoch-NNNNN`), a
`.keras` model, an original checkpoint (TF checkpoint folder or prefix, or a
legacy `.h5`; needs TensorFlow) or a `.weights.h5` file with its preset.

    load_model(path)              any saved model, as it is (`astromer.load_model`)
    load_backbone(weights)        the encoder alone: what embedding and export read
    load_for_finetuning(weights)  (Pretrainer, config) to train further

Only `load_for_finetuning` builds a training configuration. Missing or
damaged weights raise `WeightsError` (a `ConfigError`) naming the file, what
is wrong with it and what to do; other weights that cannot be used raise
`ConfigError`.
"""

import os

from astromer import presets
from astromer.errors import ConfigError, WeightsError
from astromer.weights_path import resolve_weights_path


def load_model(path, preset=None):
    """Any saved astromer model as a Keras model, on any backend (a `.keras`
    file needs no TensorFlow; an original checkpoint does).

        import astromer
        model = astromer.load_model("runs/a2")
    """
    path = resolve_weights_path(os.fspath(path), preset)
    if path.endswith(".keras"):
        return _read_keras(path)  # as saved, whatever the class (a FeatureClassifier has no backbone)
    return _task(path, preset)


def load_backbone(weights, preset=None):
    """The encoder of `weights` (any form `load_model` reads); an original
    checkpoint's is built without the reconstruction head."""
    path = resolve_weights_path(os.fspath(weights), preset)
    if _is_original(path):
        from astromer.models.astromer_backbone import AstromerBackbone

        return AstromerBackbone.from_original_checkpoint(path, preset=preset)
    return _task(path, preset).backbone


def load_for_finetuning(weights, preset=None, overrides=()):
    """`(Pretrainer, config)` of `weights`, compiled with the optimizer of
    the config's `pretraining` section. The config is the run's own
    (config.yaml) for a run folder, otherwise `preset` or the preset that
    suits the model (read from its attention quirk and depth) with the
    model's own `model` section.

    `overrides` (`--set` assignments) apply to the config; `model.*` ones
    change the loaded model where its weights still fit (`model.dropout=0`),
    and one that changes the architecture fails naming it."""
    from astromer.core.factory import make_optimizer

    overrides = list(overrides or ())
    changes = [o for o in overrides if o.startswith("model.")]
    model, config = _with_config(resolve_weights_path(os.fspath(weights), preset), preset,
                                 [o for o in overrides if o not in changes])
    if changes:
        try:
            config = presets.apply_overrides(config, changes)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        try:
            model = model.with_settings(**{k: v for k, v in config["model"].items() if k != "class"})
        except ValueError as error:
            raise ConfigError(f"{changes} cannot apply to {weights!r} ({error}); only settings that keep the "
                              "architecture, such as model.dropout, can change when loading weights.") from None
    # A model loaded for training is scored (`evaluate`) before `fit`, and
    # only a run folder's model.keras comes back compiled.
    model.compile(make_optimizer(config["pretraining"]))
    return model, config


def _with_config(path, preset, overrides):
    from astromer.core.factory import read_config, resolve_config

    if _is_run(path):
        config = read_config(os.path.join(path, "config.yaml"))
        return _task(path, preset), presets.apply_overrides(config, overrides)
    if path.endswith(".weights.h5"):
        config = resolve_config(preset, overrides)
        return _task(path, preset, config), config
    model = _task(path, preset)
    backbone = model.backbone
    config = resolve_config(preset or _preset_of(backbone, original=_is_original(path)), overrides)
    config["model"] = {"class": type(backbone).__name__,
                       **{k: v for k, v in backbone.get_config().items() if k not in ("name", "trainable")}}
    return model, config


def _task(path, preset, config=None):
    """The task model (with a `backbone`) saved at the resolved `path`; a
    `.weights.h5` file's is built from `config` (or `preset`) first."""
    if _is_run(path):
        path = os.path.join(path, "model.keras")
    if path.endswith(".keras"):
        model = _read_keras(path)
        if not hasattr(model, "backbone"):
            raise ConfigError(f"{path!r} holds a {type(model).__name__}, which has no encoder: pass a model with "
                              "one (a run folder, a Pretrainer or Classifier .keras, an original checkpoint); "
                              "astromer.load_model loads any saved model as it is.")
        return model
    if path.endswith(".weights.h5"):
        from astromer.core.factory import build_pretrainer
        from astromer.saving import check_h5

        check_h5(path, ".weights.h5 file")
        model = build_pretrainer(config or presets.load_preset(preset))
        try:
            model.load_weights(path)
        except ValueError:  # a backbone's weights, not a Pretrainer's
            model.backbone.load_weights(path)
        return model
    from astromer.models.pretrainer import Pretrainer

    return Pretrainer.from_original_checkpoint(path, preset=preset)


def _read_keras(path):
    """`load_keras(path)`: a damaged file a `WeightsError`, another unusable
    one (an unknown class...) a `ConfigError`, both naming it."""
    from astromer.saving import load_keras

    try:
        return load_keras(path)
    except WeightsError:
        raise
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _is_run(path):
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "model.keras"))


def _is_original(path):
    return not (_is_run(path) or path.endswith((".keras", ".weights.h5")))


def _preset_of(backbone, original=False):
    """The preset whose training settings suit a backbone saved without
    them: read from its attention mask (the +1 bonus of the original A1
    code, the soft -0.5 of the original A2 code) and depth."""
    from astromer.convert import original_code

    code = original_code(backbone)
    if original:
        return "a1-original" if code == "a1" else "a2-original"
    if type(backbone).__name__ == "AstroCoBackbone":
        return "astroco-s" if backbone.num_layers <= 4 else "astroco-l"
    if code is not None:
        return f"{code}-original"
    return "a1" if backbone.num_layers == 2 else "a2"
