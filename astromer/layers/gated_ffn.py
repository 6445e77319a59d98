"""The gated feed-forward sublayer of an AstroCo block."""

import keras
from keras import ops

from astromer.layers.dropout import HashDropout
from astromer.layers.layer_norm import LayerNorm


@keras.saving.register_keras_serializable(package="astromer")
class GatedFeedForward(keras.layers.Layer):
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
        if int(expansion) <= 0:
            raise ValueError(f"`expansion` must be a positive integer, got {expansion!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        self.expansion = int(expansion)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        policy = self.dtype_policy
        self.output_dropout = HashDropout(self.dropout, dtype=policy, name="dropout")
        self.norm = LayerNorm(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="norm"
        )
        self.value_projection = None
        self.gate_projection = None
        self.output_projection = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        hidden_dim = input_shape[-1]
        inner = self.expansion * hidden_dim
        dense = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.value_projection = keras.layers.Dense(inner, name="value_projection", **dense)
        self.gate_projection = keras.layers.Dense(inner, name="gate_projection", **dense)
        self.output_projection = keras.layers.Dense(hidden_dim, name="output_projection", **dense)
        self.value_projection.build(input_shape)
        self.gate_projection.build(input_shape)
        self.output_projection.build(input_shape[:-1] + (inner,))
        self.norm.build(input_shape)

    def call(self, inputs, training=None):
        values = ops.gelu(self.value_projection(inputs), approximate=False)
        gates = ops.sigmoid(self.gate_projection(inputs))
        branch = self.output_dropout(self.output_projection(values * gates), training=training)
        return self.norm(inputs + branch)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "expansion": self.expansion,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
