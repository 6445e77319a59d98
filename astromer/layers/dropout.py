"""Dropout with a counter-based hash instead of a stateful random stream."""

import keras
from keras import ops

from astromer.layers.base import AstromerLayer

_MASK32 = 0xFFFFFFFF


def _u32(value):
    return ops.convert_to_tensor(value, dtype="uint32")


def _low32(x):
    # Seed states are uint32 (JAX), int64 (TensorFlow) or int32 (PyTorch,
    # whose "uint32" is int64: a negative int32 needs the mask).
    return ops.bitwise_and(ops.cast(x, "uint32"), _u32(_MASK32))


def hash32(x):
    """lowbias32 (C. Wellons): a well-mixed 32-bit integer hash, elementwise.

    `x` holds values below 2^32 as "uint32". Keras' PyTorch backend has no
    such type and gives int64 instead, where products do not wrap at 32
    bits: they are cut to 32 bits explicitly (a no-op the compiler drops
    where the type really is uint32).
    """
    low32 = _u32(_MASK32)
    x = ops.bitwise_xor(x, ops.right_shift(x, _u32(16)))
    x = ops.bitwise_and(ops.multiply(x, _u32(0x7FEB352D)), low32)
    x = ops.bitwise_xor(x, ops.right_shift(x, _u32(15)))
    x = ops.bitwise_and(ops.multiply(x, _u32(0x846CA68B)), low32)
    return ops.bitwise_xor(x, ops.right_shift(x, _u32(16)))


@keras.saving.register_keras_serializable(package="astromer")
class HashDropout(AstromerLayer):
    """Inverted dropout whose mask hashes (a per-call seed, element index).

    The same distribution as `keras.layers.Dropout` (each value kept with
    probability `1 - rate` and scaled by `1 / (1 - rate)`), but no random
    numbers are drawn: each call hashes its seed generator's state (seed,
    call counter) into a 32-bit salt, and every element's keep/drop bit is
    a 32-bit integer hash of its index mixed with the salt, which the
    compiler fuses into the multiply. With JAX's threefry generator the dropout
    masks of an Astromer 2 training step cost about a fifth of the step on
    an H100 (docs/performance.md); hashing makes them almost free.

    Args:
        rate: float in [0, 1). Fraction of the inputs to drop.
        seed: int or None. Seed of the generator whose state salts each call.

    Call arguments:
        inputs: any float tensor (fewer than 2^31 elements).
        training: bool. Identity when False.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"`rate` must be in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        # The generator's state (seed, call counter) hashed with plain ops,
        # not a backend random call: PyTorch's draws go through a
        # `torch.Generator`, which neither Dynamo nor a graph trace can
        # follow (a Python integer is read out of the state).
        seed, counter = ops.unstack(self.seed_generator.next(), 2)
        salt = hash32(ops.bitwise_xor(hash32(_low32(seed)), _low32(counter)))
        shape = ops.shape(inputs)
        size = 1
        for dim in shape:
            size = size * dim
        # int32 range (TF has no uint32 one outside XLA), then reinterpreted.
        index = ops.cast(ops.reshape(ops.arange(size, dtype="int32"), shape), "uint32")
        bits = hash32(ops.bitwise_xor(index, salt))
        threshold = _u32(min(int(self.rate * 2**32), _MASK32))
        keep = ops.greater_equal(bits, threshold)
        scale = ops.cast(1.0 / (1.0 - self.rate), inputs.dtype)
        return ops.where(keep, inputs * scale, ops.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape
