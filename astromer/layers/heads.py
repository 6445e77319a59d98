"""Output heads on top of an encoder's sequence output."""

import keras
from keras import ops

from astromer.layers.base import AstromerLayer
from astromer.layers.layer_norm import LayerNorm


@keras.saving.register_keras_serializable(package="astromer")
class ReconstructionHead(AstromerLayer):
    """Predicts one magnitude per step: `Dense(1)(LayerNorm(x))`.

    As the original `RegLayer` (LayerNorm eps 1e-6, then a linear unit).

    Call arguments:
        inputs: `(batch, steps, hidden_dim)`.

    Returns `(batch, steps)` float32 (also under mixed precision, so the
    loss is computed in float32).
    """

    def __init__(self, layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.norm = LayerNorm(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="norm"
        )
        self.dense = keras.layers.Dense(1, dtype=self.dtype_policy, name="dense")

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.dense.build(input_shape)

    def call(self, inputs):
        return ops.cast(ops.squeeze(self.dense(self.norm(inputs)), -1), "float32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape[:-1], dtype="float32")
