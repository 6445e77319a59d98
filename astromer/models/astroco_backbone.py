"""The AstroCo encoder (a Conformer-style Astromer) as a functional backbone."""

import keras
from keras import ops

from astromer.layers.astroco_embedding import AstroCoInputEmbedding
from astromer.layers.attention import ATTENTION_IMPLEMENTATIONS
from astromer.layers.base import check_choice, check_dropout, check_positive_int
from astromer.layers.conformer_block import ConformerBlock
from astromer.models.backbone import Backbone


@keras.saving.register_keras_serializable(package="astromer")
class AstroCoBackbone(Backbone):
    """AstroCo encoder: concatenation input embedding, then Conformer blocks.

    Inputs (a dict; every tensor is `(batch, window_size)`):

    - `magnitudes`: window-centred magnitudes,
    - `errors`: magnitude uncertainties,
    - `times`: window-centred times in days,
    - `padding_mask`: 1 on padded steps (no observation),
    - `hidden_mask`: 1 on hidden probes, whose values the model must not
      see (pretraining). All zeros at inference.

    Hidden and padded steps get a zero placeholder for `(m, sigma, t)` before
    the input projection (`AstroCoInputEmbedding`); attention excludes padded
    keys only (`ConformerBlock`).

    Outputs (a dict with fixed keys, as `AstromerBackbone`):

    - `sequence_output`: `(batch, window_size, hidden_dim)`, last block,
    - `input_embedding`: `(batch, window_size, hidden_dim)`, the embedding
      fed to the first block (the `x(0)` of the paper's layer mixing),
    - `block_outputs`: list of `num_layers` tensors like `sequence_output`.

    Outputs at padded steps are not meaningful. The paper's softmax layer
    mixing and masked mean pooling (Sect. 3.3) build *sequence* embeddings
    from `input_embedding` and `block_outputs`; they belong to the embedding
    task, not to this backbone, and are not counted below.

    Choices where the paper (Sect. 2-4, App. A) is silent or ambiguous:

    1. Hidden and padded steps: `(m, sigma, t)` all zeroed before projection.
       The paper names "the raw (m, t) pair"; `sigma` is zeroed too since
       it correlates with the magnitude. A hidden step is then located only
       by its index in the window, which only the depthwise convolution
       sees (attention is order-blind).
    2. Attention mask: padding only; hidden placeholders are visible keys,
       BERT-style ("masking token", App. A). No information leaks since the
       placeholder is constant (see `ConformerBlock`).
    3. Post-LN everywhere: each sublayer ends with `LayerNorm(x + branch)`
       (Sect. 3.2). The convolution branch also starts with its own
       LayerNorm, as the paper writes (`X^ = LN(X)`), and its residual adds
       the un-normalised input.
    4. Dropout (0.1): only on each sublayer's branch before its residual
       sum (after the attention output projection, after the conv module's
       last pointwise projection, after `W_out` in the gated FFN). None on
       the input embedding, the attention probabilities or inside the FFN.
    5. GLU gate order: first half of the `D -> 2D` projection is the value,
       second half the gate (`torch.nn.GLU`; footnote 2, `val * sigmoid(gate)`).
    6. Depthwise convolution: the paper's equation taken literally, offsets
       `-K//2 .. K//2 - 1` for even `K`; output length equals input length.
       Bias on (PyTorch default), even though BatchNorm follows.
    7. BatchNorm: statistics over real (non-padded) steps only, PyTorch
       defaults (momentum 0.1 = Keras 0.9, epsilon 1e-5); padded steps are
       zeroed before the convolution. Padding never changes real steps.
    8. Gated FFN: separate `W_val`, `W_gate` (`D -> rD`) and `W_out`, all
       with bias; exact (erf) GeLU everywhere.
    9. Input embedding: `[m, sigma] -> Dense(d - d//2)` (no activation),
       time -> `d//2` sinusoidal features (odd `d`: photometry gets the extra
       one), concatenation, `Dense(d)`, GeLU, LayerNorm.
    10. Time encoding: Astromer's `TimePositionalEncoding` schedule
        `base ** (-2 j / dim)` with base 10000 (what the Astromer code ran;
        the AstroCo paper names no base or schedule).
    11. LayerNorm epsilon 1e-5 (PyTorch default). Keras default kernel
        initialisers (Glorot uniform) and zero biases; PyTorch's differ, which
        changes nothing but the starting point.
    12. bf16 ("mixed_bfloat16", App. A): as under PyTorch autocast, dense
        layers, attention and convolutions run in bfloat16, while times reach
        the sinusoidal encoding in float32 (a bfloat16 time of ~40 days is
        off by up to 0.125 day) and LayerNorm and BatchNorm compute in
        float32 (so does the softmax with attention_implementation="explicit").

    Parameter counts (S: 5,934,138, L: 15,196,288, the paper's ~5.9M and
    ~15.2M) and how they add up: docs/pretraining.md, "AstroCo parameter
    counts"; `tests/models/test_astroco_backbone.py` asserts them.

    Args:
        num_layers: int. Conformer blocks (S: 4, L: 12).
        num_heads: int. Attention heads per block (4).
        head_dim: int. Size of each head (S: 69, L: 64); `hidden_dim =
            num_heads * head_dim`.
        window_size: int. Observations per window (200).
        dropout: float. Sublayer dropout (0.1).
        conv_kernel_size: int. Depthwise kernel length `K` (32).
        ffn_expansion: int. Gated FFN expansion ratio `r` (4).
        pe_base: float. Time-encoding base (10000, see choice 10).
        layer_norm_epsilon: float. Epsilon of every LayerNorm.
        attention_implementation: "auto", "explicit" or "fused".
        dtype: dtype policy name, e.g. "float32" or "mixed_bfloat16" (paper: bf16).

    Example:
    >>> backbone = AstroCoBackbone.from_preset("astroco-s")
    >>> out = backbone({"magnitudes": m, "errors": e, "times": t,
    ...                 "padding_mask": pad, "hidden_mask": 0 * pad})
    >>> out["sequence_output"].shape
    (batch, 200, 276)

    Reference: AstroCo paper ("AstroCo: a Conformer-style encoder for
    irregular stellar light curves"), Sect. 2-3, Fig. 1-2, App. A.
    """

    input_names = ("magnitudes", "errors", "times", "padding_mask", "hidden_mask")

    def __init__(
        self,
        num_layers=4,
        num_heads=4,
        head_dim=69,
        window_size=200,
        dropout=0.1,
        conv_kernel_size=32,
        ffn_expansion=4,
        pe_base=10000.0,
        layer_norm_epsilon=1e-5,
        attention_implementation="auto",
        band_names=None,
        dtype=None,
        **kwargs,
    ):
        settings = self.settings(locals())
        for name, value in (
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("head_dim", head_dim),
            ("window_size", window_size),
            ("conv_kernel_size", conv_kernel_size),
            ("ffn_expansion", ffn_expansion),
        ):
            check_positive_int(name, value)
        check_dropout(dropout)
        check_choice("attention_implementation", attention_implementation, ATTENTION_IMPLEMENTATIONS)
        hidden_dim = int(num_heads) * int(head_dim)
        if hidden_dim < 2:
            raise ValueError(
                f"num_heads * head_dim must be at least 2, got {num_heads!r} * {head_dim!r}."
            )
        input_names = self.names_with_bands(band_names)
        inputs = self.inputs_for(window_size, input_names)
        padding_mask = inputs["padding_mask"]
        placeholder_mask = ops.maximum(padding_mask, inputs["hidden_mask"])

        embedding = AstroCoInputEmbedding(
            hidden_dim,
            pe_base=pe_base,
            layer_norm_epsilon=layer_norm_epsilon,
            dtype=dtype,
            name="input_embedding",
        )(inputs["magnitudes"], inputs["errors"], inputs["times"], placeholder_mask)
        embedding = self.add_band_embedding(embedding, inputs.get("bands"), band_names, dtype)
        block_outputs = self.stack_blocks(
            embedding, settings, ConformerBlock, {"padding_mask": padding_mask}
        )
        x = block_outputs[-1]

        outputs = {"sequence_output": x, "input_embedding": embedding, "block_outputs": block_outputs}
        self.init_backbone(inputs, outputs, settings, **kwargs)

    def attention_scores(self, inputs, block=0):
        """Attention of block `block` on `inputs`: `(batch, heads, steps, steps)`.

        Runs eagerly on concrete inputs in inference mode (for plots, not
        training).
        """
        inputs = self.check_block(inputs, block)
        padding_mask = ops.convert_to_tensor(inputs["padding_mask"])
        placeholder_mask = ops.maximum(padding_mask, inputs["hidden_mask"])
        embedding = self.get_layer("input_embedding")(
            inputs["magnitudes"], inputs["errors"], inputs["times"], placeholder_mask
        )
        return self.block_scores(
            embedding, inputs, block, padding_mask=padding_mask, training=False
        )
