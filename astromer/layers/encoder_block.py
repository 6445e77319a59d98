"""The Astromer attention block."""

import keras

from astromer.layers.attention import AstromerAttention
from astromer.layers.dropout import HashDropout
from astromer.layers.layer_norm import LayerNorm


@keras.saving.register_keras_serializable(package="astromer")
class AstromerEncoderBlock(keras.layers.Layer):
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
        if int(ff_dim) <= 0:
            raise ValueError(f"`ff_dim` must be a positive integer, got {ff_dim!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.mask_alpha = float(mask_alpha)
        self.mask_format = mask_format
        self.temperature = float(temperature)
        self.attention_implementation = attention_implementation
        self.fused_qkv = bool(fused_qkv)
        self.use_leak = bool(use_leak)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        policy = self.dtype_policy
        self.attention = AstromerAttention(
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            mask_alpha=self.mask_alpha,
            mask_format=self.mask_format,
            temperature=self.temperature,
            attention_implementation=self.attention_implementation,
            fused_qkv=self.fused_qkv,
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="attention",
        )
        self.attention_dropout = HashDropout(self.dropout, dtype=policy)
        self.attention_norm = LayerNorm(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="attention_norm"
        )
        self.ffn_hidden = keras.layers.Dense(
            self.ff_dim,
            activation="tanh",
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="ffn_hidden",
        )
        self.ffn_dropout = HashDropout(self.dropout, dtype=policy)
        self.ffn_norm = LayerNorm(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="ffn_norm"
        )
        self.ffn_output = None
        self.leak_attention = None
        self.leak_ffn = None

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        policy = self.dtype_policy
        dense = dict(kernel_initializer=self.kernel_initializer, dtype=policy)
        self.attention.build(input_shape)
        self.attention_norm.build(input_shape)
        self.ffn_hidden.build(input_shape)
        self.ffn_output = keras.layers.Dense(hidden_dim, name="ffn_output", **dense)
        self.ffn_output.build(tuple(input_shape[:-1]) + (self.ff_dim,))
        self.ffn_norm.build(input_shape)
        if self.use_leak:
            self.leak_attention = keras.layers.Dense(hidden_dim, name="leak_attention", **dense)
            self.leak_attention.build(input_shape)
            self.leak_ffn = keras.layers.Dense(hidden_dim, name="leak_ffn", **dense)
            self.leak_ffn.build(input_shape)

    def call(
        self, inputs, ignore_mask=None, key_lengths=None, training=None, return_attention_scores=False
    ):
        attended = self.attention(
            inputs,
            ignore_mask=ignore_mask,
            key_lengths=key_lengths,
            return_attention_scores=return_attention_scores,
        )
        if return_attention_scores:
            attended, scores = attended
        attended = self.attention_dropout(attended, training=training)
        if self.use_leak:
            attended = self.leak_attention(inputs) + attended
        hidden = self.attention_norm(attended)

        mixed = self.ffn_output(self.ffn_hidden(hidden))
        mixed = self.ffn_dropout(mixed, training=training)
        if self.use_leak:
            mixed = self.leak_ffn(hidden) + mixed
        output = self.ffn_norm(mixed)
        if return_attention_scores:
            return output, scores
        return output

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "head_dim": self.head_dim,
                "ff_dim": self.ff_dim,
                "dropout": self.dropout,
                "mask_alpha": self.mask_alpha,
                "mask_format": self.mask_format,
                "temperature": self.temperature,
                "attention_implementation": self.attention_implementation,
                "fused_qkv": self.fused_qkv,
                "use_leak": self.use_leak,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
