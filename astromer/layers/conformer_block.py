"""The AstroCo encoder block: attention, convolution, gated feed-forward."""

import keras

from astromer.layers.attention_block import AttentionBlock
from astromer.layers.base import check_dropout
from astromer.layers.conv_module import ConformerConvModule
from astromer.layers.gated_ffn import GatedFeedForward


@keras.saving.register_keras_serializable(package="astromer")
class ConformerBlock(AttentionBlock):
    """One AstroCo block: three post-norm residual sublayers.

        h = LayerNorm(x + Dropout(MHSA(x)))                 (1) attention
        h = ConformerConvModule(h, padding_mask)            (2) local mixing
        y = GatedFeedForward(h)                             (3) gated FFN

    Unlike the original Conformer (macaron FFNs, pre-norm), AstroCo uses
    three sublayers in this order, each ending with its own residual sum and
    LayerNorm (paper, Sect. 3.2 and Fig. 2).

    Attention mask: only padded keys are excluded (additive bias -1e9, "K"
    format). Hidden probes stay visible as keys, BERT-style: the paper
    replaces them by a zero placeholder "before projection" (Sect. 3.1) and
    calls it a "masking token" (App. A), which is how BERT's [MASK] works,
    and it never mentions masking attention. Nothing leaks either way: the
    placeholder carries no information about the hidden values. Seeing the
    placeholder lets a hidden step's own query read its neighbours, which is
    what reconstruction needs.

    Args:
        num_heads: int. Attention heads.
        head_dim: int. Size of each head.
        dropout: float. Dropout on each sublayer's branch before its residual.
        conv_kernel_size: int. Depthwise kernel length (32 in the paper).
        ffn_expansion: int. Gated FFN expansion ratio `r` (4).
        attention_implementation: "auto", "explicit" or "fused"
            (see `AstromerAttention`).
        layer_norm_epsilon: float. Epsilon of every LayerNorm (PyTorch's
            1e-5 by default).
        kernel_initializer: initializer of every dense and conv kernel.

    Call arguments:
        inputs: `(batch, steps, hidden_dim)`.
        padding_mask: `(batch, steps)`, 1 on padded steps; `None` = no padding.
        training: bool. Dropout and BatchNorm batch statistics.
        return_attention_scores: also return `(batch, heads, steps, steps)`.

    Returns `(batch, steps, hidden_dim)`.

    Example:
    >>> block = ConformerBlock(num_heads=2, head_dim=4, conv_kernel_size=3)
    >>> block(np.zeros((2, 7, 8), "float32"), padding_mask=np.zeros((2, 7))).shape
    (2, 7, 8)

    Reference: AstroCo paper, Sect. 3.2 and Fig. 2.
    """

    def __init__(
        self,
        num_heads,
        head_dim,
        dropout=0.1,
        conv_kernel_size=32,
        ffn_expansion=4,
        attention_implementation="auto",
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        self.dropout = check_dropout(dropout)
        self.conv_kernel_size = int(conv_kernel_size)
        self.ffn_expansion = int(ffn_expansion)
        self.attention_implementation = attention_implementation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        policy = self.dtype_policy
        self.add_attention_sublayer(
            dropout_name="attention_dropout",
            mask_alpha=-1e9,
            mask_format="K",
            attention_implementation=self.attention_implementation,
        )
        self.conv_module = ConformerConvModule(
            kernel_size=self.conv_kernel_size,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="conv_module",
        )
        self.feed_forward = GatedFeedForward(
            expansion=self.ffn_expansion,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="feed_forward",
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.attention.build(input_shape)
        self.attention_norm.build(input_shape)
        self.conv_module.build(input_shape)
        self.feed_forward.build(input_shape)

    def call(self, inputs, padding_mask=None, training=None, return_attention_scores=False):
        attended, scores = self.attend(
            inputs,
            training=training,
            return_attention_scores=return_attention_scores,
            ignore_mask=padding_mask,
        )
        hidden = self.attention_norm(inputs + attended)
        hidden = self.conv_module(hidden, padding_mask=padding_mask, training=training)
        return self.with_scores(self.feed_forward(hidden, training=training), scores)
