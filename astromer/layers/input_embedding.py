"""Astromer's input embedding: projected magnitude plus time encoding."""

import keras
from keras import ops

from astromer.layers.base import AstromerLayer
from astromer.layers.positional import TimePositionalEncoding


@keras.saving.register_keras_serializable(package="astromer")
class AstromerInputEmbedding(AstromerLayer):
    """`X = m W^T + PE(t)` (Astromer 2 paper, Sect. 2.2).

    Args:
        hidden_dim: int. Embedding size (256 in both papers).
        pe_base: float. Base of the time encoding frequencies.
        kernel_initializer: initializer of the magnitude projection.

    Call arguments:
        magnitudes: `(batch, steps)`, window-centred magnitudes.
        times: `(batch, steps)`, window-centred times in days.

    Returns `(batch, steps, hidden_dim)`.
    """

    def __init__(self, hidden_dim, pe_base=10000.0, kernel_initializer="glorot_uniform", **kwargs):
        # Inputs are not cast to the compute dtype: under mixed_bfloat16 a
        # time of 40 days would be rounded to 0.25 d before the encoding.
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.pe_base = float(pe_base)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # A 1 -> hidden_dim projection costs nothing in float32 and keeps
        # millimagnitude precision under mixed precision.
        self.magnitude_projection = keras.layers.Dense(
            self.hidden_dim,
            kernel_initializer=self.kernel_initializer,
            dtype="float32",
            name="magnitude_projection",
        )
        self.time_encoding = TimePositionalEncoding(
            self.hidden_dim, base=self.pe_base, name="time_encoding"
        )

    def build(self, magnitudes_shape, times_shape=None):
        self.magnitude_projection.build(tuple(magnitudes_shape) + (1,))
        self.time_encoding.build(times_shape or magnitudes_shape)

    def call(self, magnitudes, times):
        projected = self.magnitude_projection(ops.expand_dims(ops.cast(magnitudes, "float32"), -1))
        embedding = projected + self.time_encoding(times)
        return ops.cast(embedding, self.compute_dtype)

    def compute_output_shape(self, magnitudes_shape, times_shape=None):
        return tuple(magnitudes_shape) + (self.hidden_dim,)
