"""What the encoder blocks share: their attention sublayer."""

from astromer.layers.attention import AstromerAttention
from astromer.layers.base import SequenceLayer
from astromer.layers.dropout import HashDropout


class AttentionBlock(SequenceLayer):
    """Base of the encoder blocks (`AstromerEncoderBlock`, `ConformerBlock`).

    A block opens with an attention sublayer: `AstromerAttention` (named
    `attention`), dropout on its output and a LayerNorm (`attention_norm`).
    The subclass sets `num_heads`, `head_dim`, `dropout`,
    `layer_norm_epsilon` and `kernel_initializer` before
    `add_attention_sublayer`; the sub-layers are tracked in that order.
    """

    def add_attention_sublayer(self, dropout_name=None, **attention_settings):
        """Creates `attention`, `attention_dropout` and `attention_norm`;
        `attention_settings` go to `AstromerAttention` (mask, implementation)."""
        self.attention = AstromerAttention(
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="attention",
            **attention_settings,
        )
        self.attention_dropout = HashDropout(self.dropout, dtype=self.dtype_policy, name=dropout_name)
        self.attention_norm = self.make_layer_norm("attention_norm")

    def attend(self, inputs, training=None, return_attention_scores=False, **mask):
        """`(Dropout(attention(inputs)), scores)`; scores are None unless asked.

        `mask` is `ignore_mask` and/or `key_lengths` (see `AstromerAttention`).
        """
        attended = self.attention(inputs, return_attention_scores=return_attention_scores, **mask)
        scores = None
        if return_attention_scores:
            attended, scores = attended
        return self.attention_dropout(attended, training=training), scores

    @staticmethod
    def with_scores(output, scores):
        """`output`, or `(output, scores)` when scores were asked for."""
        return output if scores is None else (output, scores)
