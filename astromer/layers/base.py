"""What the composite layers share: argument checks, config and sub-layer plumbing."""

import inspect

import keras

from astromer.layers.layer_norm import LayerNorm


def check_dropout(dropout):
    """`dropout` as a float, which must be in [0, 1)."""
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
    return float(dropout)


def check_positive_int(name, value):
    """`value` as an int, which must be a positive integer (`name` is for the error)."""
    if isinstance(value, bool) or int(value) != value or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def check_choice(name, value, choices):
    """Raises ValueError unless `value` is one of `choices`; returns it."""
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; use one of {choices}.")
    return value


def constructor_arguments(cls):
    """The named arguments of `cls.__init__` in order (not `self`, `*args`
    or `**kwargs`): the settings a configuration holds."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


class AstromerLayer(keras.layers.Layer):
    """Base of the package's layers that take settings.

    A subclass keeps each constructor argument as a same-named attribute;
    `get_config` holds them all, in the constructor's order (initializers
    serialized). `make_dense` and `make_layer_norm` build
    sub-layers that follow this layer's dtype policy and, for dense ones,
    its `kernel_initializer` (`layer_norm_epsilon` for the LayerNorms).
    """

    def get_config(self):
        config = super().get_config()
        for key in constructor_arguments(type(self)):
            value = getattr(self, key)
            if isinstance(value, keras.initializers.Initializer):
                value = keras.initializers.serialize(value)
            config[key] = value
        return config

    def make_dense(self, units, name, **kwargs):
        return keras.layers.Dense(
            units,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
            **kwargs,
        )

    def make_layer_norm(self, name):
        return LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)


class SequenceLayer(AstromerLayer):
    """An `AstromerLayer` mapping `(batch, steps, hidden_dim)` to the same shape."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
