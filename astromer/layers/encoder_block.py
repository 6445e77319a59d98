"""The Astromer attention block."""

import keras

from astromer.layers.attention_block import AttentionBlock
from astromer.layers.base import check_dropout, check_positive_int
from astromer.layers.dropout import HashDropout


@keras.saving.register_keras_serializable(package="astromer")
class AstromerEncoderBlock(AttentionBlock):
    """Attention block of Astromer 1 and 2.

        h = LayerNorm(Dropout(MHA(x)) [+ Dense_leak1(x)])
        y = LayerNorm(Dropout(Dense(tanh(Dense(h)))) [+ Dense_leak2(h)])

    There is no identity residual: the published models have none (ORACLES.md,
    surprise 3). `use_leak=True` adds the original learned projections of the
    block input instead (not an identity residual).

    Args:
        num_heads: int. Attention heads.
        head_dim: int. Size of each head.
        ff_dim: int. Hidden units of the tanh feed-forward ("mixer") layer.
        dropout: float. Dropout after attention and after the feed-forward.
        mask_alpha, mask_format, temperature, attention_implementation,
            fused_qkv: passed to `AstromerAttention`.
        use_leak: bool. Learned projection "residuals" of the original code.
        layer_norm_epsilon: float. 1e-6 as in the original.
        kernel_initializer: initializer of every dense kernel.

    Call arguments:
        inputs: `(batch, steps, hidden_dim)`.
        ignore_mask: `(batch, steps)`, 1 on hidden or padded steps.
        exclude_mask: `(batch, steps)`, 1 on keys always excluded (hidden
            probes of a model with an original soft or bonus mask).
        key_lengths: `(batch,)`, instead of `ignore_mask`: attend to the
            first `key_lengths[b]` steps only (see `AstromerAttention`).
        training: bool, enables dropout.

    Returns `(batch, steps, hidden_dim)`.

    Reference: Astromer 2 paper, Sect. 2.4 and Fig. 3.
    """

    def __init__(
        self,
        num_heads,
        head_dim,
        ff_dim,
        dropout=0.1,
        mask_alpha=-1e9,
        mask_format="K",
        temperature=0.0,
        attention_implementation="auto",
        fused_qkv=True,
        use_leak=False,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        self.ff_dim = check_positive_int("ff_dim", ff_dim)
        self.dropout = check_dropout(dropout)
        self.mask_alpha = float(mask_alpha)
        self.mask_format = mask_format
        self.temperature = float(temperature)
        self.attention_implementation = attention_implementation
        self.fused_qkv = bool(fused_qkv)
        self.use_leak = bool(use_leak)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        self.add_attention_sublayer(
            mask_alpha=self.mask_alpha,
            mask_format=self.mask_format,
            temperature=self.temperature,
            attention_implementation=self.attention_implementation,
            fused_qkv=self.fused_qkv,
        )
        self.ffn_hidden = self.make_dense(self.ff_dim, "ffn_hidden", activation="tanh")
        self.ffn_dropout = HashDropout(self.dropout, dtype=self.dtype_policy)
        self.ffn_norm = self.make_layer_norm("ffn_norm")
        self.ffn_output = None
        self.leak_attention = None
        self.leak_ffn = None

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        self.attention.build(input_shape)
        self.attention_norm.build(input_shape)
        self.ffn_hidden.build(input_shape)
        self.ffn_output = self.make_dense(hidden_dim, "ffn_output")
        self.ffn_output.build(tuple(input_shape[:-1]) + (self.ff_dim,))
        self.ffn_norm.build(input_shape)
        if self.use_leak:
            self.leak_attention = self.make_dense(hidden_dim, "leak_attention")
            self.leak_attention.build(input_shape)
            self.leak_ffn = self.make_dense(hidden_dim, "leak_ffn")
            self.leak_ffn.build(input_shape)

    def call(
        self, inputs, ignore_mask=None, key_lengths=None, training=None, return_attention_scores=False,
        exclude_mask=None,
    ):
        attended, scores = self.attend(
            inputs,
            training=training,
            return_attention_scores=return_attention_scores,
            ignore_mask=ignore_mask,
            key_lengths=key_lengths,
            exclude_mask=exclude_mask,
        )
        if self.use_leak:
            attended = self.leak_attention(inputs) + attended
        hidden = self.attention_norm(attended)

        mixed = self.ffn_output(self.ffn_hidden(hidden))
        mixed = self.ffn_dropout(mixed, training=training)
        if self.use_leak:
            mixed = self.leak_ffn(hidden) + mixed
        return self.with_scores(self.ffn_norm(mixed), scores)
