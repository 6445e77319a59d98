"""Sinusoidal encoding of irregular observation times."""

import keras
from keras import ops

from astromer.layers.base import AstromerLayer, check_positive_int


@keras.saving.register_keras_serializable(package="astromer")
class TimePositionalEncoding(AstromerLayer):
    """Sinusoidal features of continuous observation times.

    Astromer replaces the token index of a transformer positional encoding
    with the (window-centred) observation time in days, so irregular sampling
    is seen by the model (Astromer 2 paper, Eq. 1-2):

        PE[t, j] = sin(t * w_j) for even j, cos(t * w_j) for odd j,
        w_j = base ** (-exponent_scale * j / dim)

    Note the exponent uses ``j`` for every dimension, not ``2 * floor(j/2)``
    as in the original transformer: the published weights were trained with
    this schedule. The papers print ``base=1000``; the authors' code always
    used 10000, whatever its configuration said (see ORACLES.md, surprise 2).
    The ``a1-original``/``a2-original`` presets therefore set ``base=10000``.

    The computation always runs in float32, also under a mixed-precision
    policy: a bfloat16 time (8 bits of mantissa) would be off by days.

    Args:
        dim: int. Number of output features.
        base: float. Base of the frequency schedule.
        exponent_scale: float. The factor ``c`` in ``base ** (-c * j / dim)``.

    Call arguments:
        times: float tensor of shape `(batch, steps)`, in days.

    Returns:
        float32 tensor of shape `(batch, steps, dim)`.

    Example:
    >>> pe = TimePositionalEncoding(dim=8)
    >>> pe(np.zeros((1, 3), "float32")).shape
    (1, 3, 8)
    """

    def __init__(self, dim, base=10000.0, exponent_scale=2.0, **kwargs):
        # Frequencies and times are float32 whatever the global policy says.
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if float(base) <= 0:
            raise ValueError(f"`base` must be positive, got {base!r}.")
        self.dim = check_positive_int("dim", dim)
        self.base = float(base)
        self.exponent_scale = float(exponent_scale)

    def angular_frequencies(self):
        j = ops.arange(self.dim, dtype="float32")
        # Same operation order as the original (pow, then reciprocal) so the
        # float32 rounding matches it bit for bit on the TF backend.
        exponent = ops.divide(ops.multiply(self.exponent_scale, j), float(self.dim))
        return ops.reciprocal(ops.power(ops.cast(self.base, "float32"), exponent))

    def call(self, times):
        times = ops.cast(times, "float32")
        angles = ops.expand_dims(times, -1) * self.angular_frequencies()
        even = ops.equal(ops.mod(ops.arange(self.dim), 2), 0)
        return ops.where(even, ops.sin(angles), ops.cos(angles))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.dim,)
