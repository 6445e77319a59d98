"""The convolutional sublayer of a Conformer block, made padding-aware."""

import keras
from keras import ops

from astromer.layers.base import SequenceLayer, check_dropout, check_positive_int
from astromer.layers.dropout import HashDropout


@keras.saving.register_keras_serializable(package="astromer")
class ConformerConvModule(SequenceLayer):
    """Pointwise -> GLU -> depthwise Conv1D -> BatchNorm -> SiLU -> pointwise.

        h = Dense_2D(LayerNorm_in(x))                 (batch, steps, 2D)
        g = h[..., :D] * sigmoid(h[..., D:])          GLU: values, then gates
        c = DepthwiseConv1D_K(g)                      per channel, over time
        y = LayerNorm_out(x + Dropout(Dense_D(SiLU(BatchNorm(c)))))

    The depthwise convolution follows the paper's equation exactly,
    `c[t] = sum_k W[k] g[t + k - K // 2]`: for an even `K` the window reaches
    `K // 2` steps into the past and `K // 2 - 1` into the future (Keras'
    own "same" padding does the opposite), and the output has as many steps
    as the input.

    Padding never changes a real step's output:

    - `g` is zeroed on padded steps before the convolution, so a padded step
      looks exactly like the zeros beyond the window edge;
    - BatchNorm statistics (training) are the mean and (biased) variance
      over real steps only; at inference it uses the moving statistics.

    The outputs at padded steps are not meaningful.

    BatchNorm defaults are PyTorch's (momentum 0.1 there, i.e. 0.9 here;
    epsilon 1e-5) since the paper's model is a PyTorch one. PyTorch updates
    the running variance with the unbiased estimate; Keras with the biased
    one (a factor `n / (n - 1)`, negligible for `n` = batch x real steps).

    Args:
        kernel_size: int. Depthwise kernel length `K` (32 in the paper).
        dropout: float. Dropout on the branch, before the residual sum.
        layer_norm_epsilon: float. Epsilon of both LayerNorms.
        batch_norm_momentum: float. Keras convention (1 - PyTorch momentum).
        batch_norm_epsilon: float.
        kernel_initializer: initializer of the pointwise and depthwise kernels.

    Call arguments:
        inputs: `(batch, steps, hidden_dim)`.
        padding_mask: `(batch, steps)`, 1 on padded steps; `None` = no padding.
        training: bool. Dropout and batch statistics.

    Returns `(batch, steps, hidden_dim)`.

    Example:
    >>> conv = ConformerConvModule(kernel_size=3)
    >>> conv(np.zeros((2, 7, 4), "float32"), padding_mask=np.zeros((2, 7))).shape
    (2, 7, 4)

    References: AstroCo paper, Sect. 3.2 (2) and footnote 2; Gulati et al.
    2020 (Conformer), Fig. 2.
    """

    def __init__(
        self,
        kernel_size=32,
        dropout=0.1,
        layer_norm_epsilon=1e-5,
        batch_norm_momentum=0.9,
        batch_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        kernel_size = check_positive_int("kernel_size", kernel_size)
        dropout = check_dropout(dropout)
        if not 0.0 <= float(batch_norm_momentum) < 1.0:
            raise ValueError(
                f"`batch_norm_momentum` must be in [0, 1) (Keras convention: the weight "
                f"of the old moving statistics), got {batch_norm_momentum!r}."
            )
        self.kernel_size = int(kernel_size)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.batch_norm_epsilon = float(batch_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        policy = self.dtype_policy
        self.norm_in = self.make_layer_norm("norm_in")
        self.depthwise = keras.layers.DepthwiseConv1D(
            self.kernel_size,
            padding="valid",
            depthwise_initializer=self.kernel_initializer,
            dtype=policy,
            name="depthwise",
        )
        self.batch_norm = keras.layers.BatchNormalization(
            momentum=self.batch_norm_momentum,
            epsilon=self.batch_norm_epsilon,
            dtype=policy,
            name="batch_norm",
        )
        self.branch_dropout = HashDropout(self.dropout, dtype=policy, name="dropout")
        self.norm_out = self.make_layer_norm("norm_out")
        self.pointwise_in = None
        self.pointwise_out = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        hidden_dim = input_shape[-1]
        self.pointwise_in = self.make_dense(2 * hidden_dim, "pointwise_in")
        self.pointwise_out = self.make_dense(hidden_dim, "pointwise_out")
        self.norm_in.build(input_shape)
        self.pointwise_in.build(input_shape)
        padded_steps = None if input_shape[1] is None else input_shape[1] + self.kernel_size - 1
        self.depthwise.build((input_shape[0], padded_steps, hidden_dim))
        self.batch_norm.build(input_shape)
        self.pointwise_out.build(input_shape)
        self.norm_out.build(input_shape)

    def call(self, inputs, padding_mask=None, training=None):
        hidden_dim = inputs.shape[-1]
        projected = self.pointwise_in(self.norm_in(inputs))
        # GLU as torch.nn.GLU: first half the values, second half the gates.
        values, gates = projected[..., :hidden_dim], projected[..., hidden_dim:]
        gated = values * ops.sigmoid(gates)

        real = None
        if padding_mask is not None:
            real = ops.cast(padding_mask, "float32") < 0.5
            gated = ops.where(real[..., None], gated, ops.zeros_like(gated))
        left = self.kernel_size // 2
        gated = ops.pad(gated, [[0, 0], [left, self.kernel_size - 1 - left], [0, 0]])
        convolved = self.depthwise(gated)

        # Keras masks mean "1 = keep": the statistics cover real steps only.
        normalized = self.batch_norm(convolved, training=training, mask=real)
        branch = self.pointwise_out(ops.silu(normalized))
        branch = self.branch_dropout(branch, training=training)
        return self.norm_out(inputs + branch)
