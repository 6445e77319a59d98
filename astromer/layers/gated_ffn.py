"""The gated feed-forward sublayer of an AstroCo block."""

import keras
from keras import ops

from astromer.layers.base import SequenceLayer, check_dropout, check_positive_int
from astromer.layers.dropout import HashDropout


@keras.saving.register_keras_serializable(package="astromer")
class GatedFeedForward(SequenceLayer):
    """`y = LayerNorm(x + Dropout(W_out(GeLU(W_val x) * sigmoid(W_gate x))))`.

    `W_val` and `W_gate` are two separate `D -> r D` projections (paper
    footnote 3: "projected to two rD vectors"); `W_out` maps `r D -> D`. Every
    projection has a bias (PyTorch `nn.Linear` default). GeLU is the exact
    (erf) form, PyTorch's default. Acts on each step independently, so it
    needs no padding mask.

    Args:
        expansion: int. Expansion ratio `r` (4 in the paper).
        dropout: float. Dropout on `W_out(...)`, before the residual sum.
        layer_norm_epsilon: float.
        kernel_initializer: initializer of the three kernels.

    Call arguments:
        inputs: `(batch, steps, hidden_dim)`.
        training: bool. Enables dropout.

    Returns `(batch, steps, hidden_dim)`.

    Example:
    >>> ffn = GatedFeedForward(expansion=4)
    >>> ffn(np.zeros((2, 5, 8), "float32")).shape
    (2, 5, 8)

    Reference: AstroCo paper, Sect. 3.2 (3), Eq. 1-2.
    """

    def __init__(
        self,
        expansion=4,
        dropout=0.1,
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.expansion = check_positive_int("expansion", expansion)
        self.dropout = check_dropout(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_dropout = HashDropout(self.dropout, dtype=self.dtype_policy, name="dropout")
        self.norm = self.make_layer_norm("norm")
        self.value_projection = None
        self.gate_projection = None
        self.output_projection = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        hidden_dim = input_shape[-1]
        inner = self.expansion * hidden_dim
        self.value_projection = self.make_dense(inner, "value_projection")
        self.gate_projection = self.make_dense(inner, "gate_projection")
        self.output_projection = self.make_dense(hidden_dim, "output_projection")
        self.value_projection.build(input_shape)
        self.gate_projection.build(input_shape)
        self.output_projection.build(input_shape[:-1] + (inner,))
        self.norm.build(input_shape)

    def call(self, inputs, training=None):
        values = ops.gelu(self.value_projection(inputs), approximate=False)
        gates = ops.sigmoid(self.gate_projection(inputs))
        branch = self.output_dropout(self.output_projection(values * gates), training=training)
        return self.norm(inputs + branch)
