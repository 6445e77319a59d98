"""Shared machinery of the encoder backbones: inputs, validation, presets."""

import numpy as np
import keras

from astromer import presets
from astromer.layers.band_embedding import BandEmbedding
from astromer.layers.base import constructor_arguments
from astromer.models.graph_steps import GraphStepsMixin


# How a backbone keeps each setting (and writes it in `get_config`); a
# setting not listed is kept as given.
SETTING_TYPES = {
    "num_layers": int,
    "num_heads": int,
    "head_dim": int,
    "ff_dim": int,
    "window_size": int,
    "conv_kernel_size": int,
    "ffn_expansion": int,
    "dropout": float,
    "pe_base": float,
    "mask_alpha": float,
    "temperature": float,
    "layer_norm_epsilon": float,
    "use_leak": bool,
    "mask_token": bool,
    "fused_qkv": bool,
}


class Backbone(GraphStepsMixin, keras.Model):
    """Base class of the functional encoders (`AstromerBackbone`, `AstroCoBackbone`).

    Subclasses set `input_names` (every input is `(batch, window_size)`)
    and build their graph in `__init__`, which starts with
    `settings = self.settings(locals())` and ends with `init_backbone`.
    This class adds input validation with readable errors, the
    configuration (every constructor argument) and `from_preset`.
    """

    input_names = ()
    # Inputs that may never contain NaN/inf when given as NumPy arrays.
    finite_inputs = ("magnitudes", "times", "errors")

    @classmethod
    def settings(cls, arguments):
        """The constructor's settings, from its `arguments` (`locals()` at its
        start): every named argument, typed as `SETTING_TYPES` says."""
        return {
            name: SETTING_TYPES.get(name, lambda value: value)(arguments[name])
            for name in constructor_arguments(cls)
        }

    @staticmethod
    def stack_blocks(x, settings, block_class, block_arguments, **overrides):
        """Applies `settings["num_layers"]` blocks `block_class` (named
        `block_{i}`) in turn to `x`; returns the list of their outputs.

        Each block gets the backbone `settings` it also takes (same name,
        same meaning), then `overrides`; `block_arguments` (masks) go to
        every block call."""
        arguments = constructor_arguments(block_class)
        block_settings = {name: value for name, value in settings.items() if name in arguments}
        block_settings.update(overrides)
        outputs = []
        for i in range(settings["num_layers"]):
            x = block_class(**block_settings, dtype=settings["dtype"], name=f"block_{i}")(
                x, **block_arguments
            )
            outputs.append(x)
        return outputs

    @staticmethod
    def add_band_embedding(embedding, bands, band_names, dtype=None):
        """`embedding` plus the learned embedding of `bands` (`band_names`
        given), or `embedding` itself (single band)."""
        if not band_names:
            return embedding
        return BandEmbedding(len(band_names), embedding.shape[-1], dtype=dtype, name="band_embedding")(
            embedding, bands
        )

    def init_backbone(self, inputs, outputs, settings, **kwargs):
        """Ends a subclass' `__init__`: the functional model from `inputs` to
        `outputs` (`sequence_output`, `input_embedding`, `block_outputs`),
        then the `settings` kept as attributes, with `hidden_dim`,
        `input_names` and `layer_dtype`."""
        settings = dict(settings)
        dtype = settings.pop("dtype")
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        for name, value in settings.items():
            setattr(self, name, value)
        self.hidden_dim = self.num_heads * self.head_dim
        self.input_names = tuple(inputs)
        self.band_names = list(self.band_names) if self.band_names else None
        # Functional models ignore `dtype`; the policy lives on the layers.
        self.layer_dtype = keras.dtype_policies.get(dtype) if dtype else None

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **{name: getattr(self, name) for name in constructor_arguments(type(self)) if name != "dtype"},
            "dtype": keras.dtype_policies.serialize(self.layer_dtype) if self.layer_dtype else None,
        }

    def check_block(self, inputs, block):
        """`validate_inputs(inputs)`, after checking that block `block` exists
        (for `attention_scores`)."""
        inputs = self.validate_inputs(inputs)
        if not 0 <= block < self.num_layers:
            raise ValueError(f"block must be in [0, {self.num_layers}), got {block!r}.")
        return inputs

    def block_scores(self, embedding, inputs, block, **block_arguments):
        """Attention scores of block `block`, run eagerly from the input
        embedding (before the band embedding) through the blocks before it;
        `block_arguments` (masks, `training`) go to every block."""
        x = embedding
        if self.band_names:
            x = self.get_layer("band_embedding")(x, inputs["bands"])
        for i in range(block):
            x = self.get_layer(f"block_{i}")(x, **block_arguments)
        _, scores = self.get_layer(f"block_{block}")(
            x, return_attention_scores=True, **block_arguments
        )
        return scores

    @staticmethod
    def inputs_for(window_size, names):
        return {name: keras.Input(shape=(int(window_size),), name=name) for name in names}

    def make_inputs(self, window_size=None):
        """Fresh `keras.Input`s for this backbone's inputs (for task models)."""
        return self.inputs_for(window_size or self.window_size, self.input_names)

    @classmethod
    def names_with_bands(cls, band_names):
        """The input names of a single-band model, plus `bands` when the
        model reads several bands (`band_names` must then be a list)."""
        if isinstance(band_names, str):
            raise ValueError(
                f"band_names={band_names!r}: give the list of band names (e.g. ['EROS_B', 'EROS_R']); "
                "'auto' is resolved from the training data by astromer-train."
            )
        return tuple(cls.input_names) + (("bands",) if band_names else ())

    def validate_inputs(self, inputs):
        """Checks names, shapes and (for NumPy input) finiteness of `inputs`.

        Accepts the original `(batch, steps, 1)` layout and squeezes it.
        Returns a dict with exactly the model's inputs (other keys, e.g.
        `errors` for a model that does not read them, are left out).
        """
        if not hasattr(inputs, "keys"):
            raise TypeError(
                f"{type(self).__name__} takes a dict with keys {list(self.input_names)}, "
                f"got {type(inputs).__name__}."
            )
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise ValueError(
                f"Missing input(s) {missing}; {type(self).__name__} needs "
                f"{list(self.input_names)} (got {sorted(inputs.keys())})."
            )
        checked = {}
        for name in self.input_names:
            value = inputs[name]
            if isinstance(value, (list, tuple)):
                value = np.asarray(value, dtype="float32")
            shape = tuple(getattr(value, "shape", np.shape(value)))
            if len(shape) == 3 and shape[-1] == 1:
                value = value[..., 0]
                shape = shape[:-1]
            if len(shape) != 2:
                raise ValueError(
                    f"Input '{name}' must have shape (batch, {self.window_size}); "
                    f"got shape {shape}."
                )
            if shape[1] is not None and shape[1] != self.window_size:
                raise ValueError(
                    f"Input '{name}' has windows of {shape[1]} steps but this model "
                    f"takes window_size={self.window_size}. Cut and pad light curves "
                    f"with astromer.data.windows (window_size={self.window_size})."
                )
            if isinstance(value, np.ndarray) and name in self.finite_inputs:
                bad = ~np.isfinite(value)
                if bad.any():
                    b, s = np.argwhere(bad)[0]
                    raise ValueError(
                        f"Input '{name}' has {int(bad.sum())} NaN/inf value(s) "
                        f"(first at window {b}, step {s}). Clean the light curves first "
                        f"(astromer.data.clean_light_curves drops such rows and counts them)."
                    )
            checked[name] = value
        return checked

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self.validate_inputs(inputs), *args, **kwargs)

    @classmethod
    def from_preset(cls, preset, **overrides):
        """Builds the backbone of a preset (name or YAML path), randomly initialised.

        `overrides` replace entries of the preset's `model` section.
        """
        config = presets.load_preset(preset)
        model_config = dict(config["model"])
        class_name = model_config.pop("class")
        target = presets.backbone_class(class_name)
        if cls is not Backbone and not issubclass(target, cls):
            raise ValueError(
                f"Preset {preset!r} builds a {class_name}, not a {cls.__name__}; call "
                f"{class_name}.from_preset({preset!r}) or "
                f"astromer.presets.build_backbone({preset!r})."
            )
        unknown = set(overrides) - set(model_config) - {"dtype"}
        if unknown:
            raise ValueError(
                f"Unknown model setting(s) {sorted(unknown)} for preset {preset!r}; "
                f"valid: {sorted(model_config)}."
            )
        model_config.update(overrides)
        return target(**model_config)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def with_bands(self, band_names, **overrides):
        """A joint multi-band copy of this single-band backbone: the same
        weights plus a band embedding for `band_names`, which starts at zero,
        so the copy first gives exactly this backbone's outputs on any one
        band. `overrides` change other settings (e.g. `dropout`).

        This is how a published single-band model (Astromer 1) becomes the
        starting point of a multi-band one (docs/multiband.md).
        """
        if getattr(self, "band_names", None):
            raise ValueError(f"This backbone already reads bands {list(self.band_names)}.")
        config = {**self.get_config(), **overrides, "band_names": [str(b) for b in band_names]}
        config.pop("name", None)
        joint = type(self).from_config(config)
        table = {id(v) for v in joint.get_layer("band_embedding").weights}
        targets = [v for v in joint.weights if id(v) not in table]
        sources = self.weights
        if [tuple(v.shape) for v in targets] != [tuple(v.shape) for v in sources]:
            raise ValueError("The multi-band copy's variables do not line up with this backbone's.")
        for target, source in zip(targets, sources):
            # A host copy: on JAX, assigning the array itself would share one
            # buffer between two models, and a step that donates it would
            # delete the other model's weights.
            target.assign(keras.ops.convert_to_numpy(source))
        return joint


class BackboneTask:
    """Mixin of the task models built on a backbone (`Pretrainer`,
    `Classifier`): their configuration holds the serialized `backbone`,
    which `from_config` rebuilds before the task."""

    def backbone_task_config(self, **settings):
        """The task's configuration: name, trainability, the serialized
        backbone, then the task's own `settings`."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            **settings,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
