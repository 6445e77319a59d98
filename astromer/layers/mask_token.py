"""The trainable [MASK] magnitude of Astromer 2."""

import keras
from keras import ops

from astromer.layers.base import AstromerLayer


@keras.saving.register_keras_serializable(package="astromer")
class MaskToken(AstromerLayer):
    """Replaces masked magnitudes by one trainable scalar.

    Astromer 2 (paper Sect. 3.1) hides the magnitudes of hidden probes behind
    a single zero-initialised token shared by all samples, so nothing leaks
    through the value projection. Padded steps get it too, as in the
    original `AddMSKToken` (it acted on `mask_in`).

    In the authors' code this layer was built but silently dropped from the
    model (ORACLES.md, surprise 1); the `a2-original` preset therefore has
    `mask_token: false`.

    Args:
        initial_value: float. Starting value of the token (0 in the paper).

    Call arguments:
        magnitudes: `(batch, steps)`.
        ignore_mask: `(batch, steps)`, 1 where the token replaces the value.

    Returns `(batch, steps)`.
    """

    def __init__(self, initial_value=0.0, **kwargs):
        # Magnitudes stay float32 (a bfloat16 magnitude is off by ~1%).
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.initial_value = float(initial_value)

    def build(self, input_shape):
        self.token = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_value),
            name="token",
        )

    def call(self, magnitudes, ignore_mask):
        ignore = ops.cast(ignore_mask, magnitudes.dtype)
        return magnitudes * (1.0 - ignore) + ignore * ops.cast(self.token, magnitudes.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
