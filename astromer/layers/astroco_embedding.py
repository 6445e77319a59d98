"""AstroCo's input embedding: photometry and time features, concatenated and fused."""

import keras
from keras import ops

from astromer.layers.base import AstromerLayer
from astromer.layers.positional import TimePositionalEncoding


@keras.saving.register_keras_serializable(package="astromer")
class AstroCoInputEmbedding(AstromerLayer):
    """Concatenation fusion of photometry and observation times.

        p = Dense_p([m, sigma])                      (batch, steps, d - d // 2)
        s = PE(t)                                    (batch, steps, d // 2)
        X = LayerNorm(GeLU(Dense_d(concat[p, s])))   (batch, steps, d)

    Hidden probes and padded steps get a zero placeholder for `(m, sigma, t)`
    *before* any projection (AstroCo paper, Sect. 3.1: "we replace the raw
    (m, t) pair with a zero placeholder before projection"). The paper names
    the pair `(m, t)`; the uncertainty is zeroed too because faint stars have
    large errors, so `sigma` alone would leak the hidden magnitude. The
    output at such steps is therefore one constant vector, whatever the
    inputs held there.

    Concatenation instead of Astromer's sum keeps raw magnitudes and time
    features from competing on the same scale (paper, Sect. 2).

    When `hidden_dim` is odd the photometry gets the extra feature
    (`d - d // 2`) and the time encoding `d // 2`: the sinusoidal features are
    a fixed basis and lose nothing by being one smaller. Both paper models
    have an even `d` (276 and 256).

    The time encoding is `astromer.layers.positional.TimePositionalEncoding`
    (Astromer's schedule `w_j = base ** (-2 j / dim)`); the paper only says
    "sinusoidal embeddings".

    Args:
        hidden_dim: int. Output size `d` (at least 2).
        pe_base: float. Base of the time-encoding frequencies.
        layer_norm_epsilon: float. Epsilon of the final LayerNorm.
        kernel_initializer: initializer of both dense kernels.

    Call arguments:
        magnitudes: `(batch, steps)`, window-centred magnitudes.
        errors: `(batch, steps)`, magnitude uncertainties.
        times: `(batch, steps)`, window-centred times in days.
        placeholder_mask: `(batch, steps)`, 1 on steps whose inputs are
            replaced by the zero placeholder (hidden probes and padding).

    Returns `(batch, steps, hidden_dim)`.

    Example:
    >>> embed = AstroCoInputEmbedding(hidden_dim=8)
    >>> x = np.zeros((2, 5), "float32")
    >>> embed(x, x, x, x).shape
    (2, 5, 8)

    Reference: AstroCo paper (Sect. 3.1, Fig. 1).
    """

    def __init__(
        self,
        hidden_dim,
        pe_base=10000.0,
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        # No casting of the call arguments to the compute dtype: under
        # mixed_bfloat16 a time of 40 days would be rounded to 0.25 days
        # before the (float32) sinusoidal encoding sees it. The dense
        # sub-layers still follow the policy.
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        if int(hidden_dim) < 2:
            raise ValueError(
                f"`hidden_dim` must be at least 2 (half photometry, half time), got {hidden_dim!r}."
            )
        self.hidden_dim = int(hidden_dim)
        self.pe_base = float(pe_base)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.time_dim = self.hidden_dim // 2
        self.photometry_dim = self.hidden_dim - self.time_dim

        self.photometry_projection = self.make_dense(self.photometry_dim, "photometry_projection")
        self.time_encoding = TimePositionalEncoding(
            self.time_dim, base=self.pe_base, name="time_encoding"
        )
        self.fusion = self.make_dense(self.hidden_dim, "fusion", activation="gelu")
        self.norm = self.make_layer_norm("norm")

    def build(self, magnitudes_shape, errors_shape=None, times_shape=None, placeholder_mask_shape=None):
        steps_shape = tuple(magnitudes_shape)
        self.photometry_projection.build(steps_shape + (2,))
        self.time_encoding.build(steps_shape)
        self.fusion.build(steps_shape + (self.hidden_dim,))
        self.norm.build(steps_shape + (self.hidden_dim,))

    def call(self, magnitudes, errors, times, placeholder_mask):
        replace = ops.cast(placeholder_mask, "float32") > 0.5
        # Replaced in float32, before any cast or projection, and with
        # `where` rather than a product so that not even a NaN left on a
        # padded step reaches the model.
        magnitudes, errors, times = (
            ops.where(replace, 0.0, ops.cast(value, "float32"))
            for value in (magnitudes, errors, times)
        )
        photometry = self.photometry_projection(ops.stack([magnitudes, errors], axis=-1))
        time_features = ops.cast(self.time_encoding(times), photometry.dtype)
        fused = self.fusion(ops.concatenate([photometry, time_features], axis=-1))
        return self.norm(fused)

    def compute_output_shape(
        self, magnitudes_shape, errors_shape=None, times_shape=None, placeholder_mask_shape=None
    ):
        return tuple(magnitudes_shape) + (self.hidden_dim,)
