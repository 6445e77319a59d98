"""Layer normalization whose inference pass XLA compiles into one kernel."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="astromer")
class LayerNorm(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization`, with an inference pass that a GPU
    compiler can fuse into a single kernel.

    Same weights (`gamma`, `beta`), arguments and statistics (the mean, then
    the variance of the centred values, in float32 also under mixed
    precision) as Keras' layer. Outside training (`training` false or
    unset: embedding, evaluation) the output is written as

        (x - mean) * rsqrt(variance + epsilon) * gamma + beta

    which XLA's GPU compiler recognises as a normalization and compiles into
    one kernel reading each row once; Keras' own algebra
    (`x * inv + (beta - mean * inv)`) compiles into three passes (two
    reductions, then the normalization). In training, Keras' algebra stays:
    with the centred form the whole training step compiles into more passes
    (its gradient; `astromer-bench hlo`, docs/performance.md). The two
    differ by float32 rounding only.

    Only the last axis, with `center`, `scale` and no RMS scaling, takes the
    fused form; anything else is Keras' layer unchanged.

    Call arguments:
        inputs: `(..., features)`.
        training: bool. Training uses Keras' algebra.

    Returns a tensor shaped like `inputs`, in the layer's compute dtype.
    """

    def call(self, inputs, training=None):
        axis = self.axis if isinstance(self.axis, int) else (self.axis[0] if len(self.axis) == 1 else None)
        plain = (
            axis in (-1, len(inputs.shape) - 1) and self.center and self.scale and not self.rms_scaling
        )
        if training or not plain:
            return super().call(inputs)
        values = ops.cast(inputs, "float32")
        mean = ops.mean(values, axis=-1, keepdims=True)
        centred = values - mean
        variance = ops.mean(ops.square(centred), axis=-1, keepdims=True)
        outputs = centred * ops.rsqrt(variance + self.epsilon) * ops.cast(self.gamma, "float32")
        outputs = outputs + ops.cast(self.beta, "float32")
        return ops.cast(outputs, self.compute_dtype)
