"""The Astromer encoder (Astromer 1 and Astromer 2) as a functional backbone."""

import keras
from keras import ops

from astromer import convert
from astromer.layers.attention import ATTENTION_IMPLEMENTATIONS, EXCLUDING_ALPHA
from astromer.layers.base import check_choice, check_positive_int
from astromer.layers.dropout import HashDropout
from astromer.layers.encoder_block import AstromerEncoderBlock
from astromer.layers.input_embedding import AstromerInputEmbedding
from astromer.layers.mask_token import MaskToken
from astromer.layers.step_order import PermuteSteps, masked_last_order
from astromer.models.backbone import Backbone


BACKBONE_ATTENTION = ATTENTION_IMPLEMENTATIONS + ("lengths",)


HIDDEN_STEPS = ("excluded", "original")


def hidden_step_masks(magnitudes, steps, ignore_mask, settings):
    """What the blocks may see of hidden probes, and the attention masks:
    `(magnitudes, masks)`, `masks` the keyword arguments of every block call.

    `hidden_steps="excluded"`: hidden magnitudes replaced (mask token, else
    0) and their keys excluded (paper Eq. 3); an original soft or bonus mask
    stays on padding only. `"original"`: the original codes' probe mode, to
    compare with their outputs, never to train (docs/pretraining.md).
    """
    if settings["hidden_steps"] == "original":
        return magnitudes, {"ignore_mask": ignore_mask}
    hidden = steps["hidden_mask"]
    if not settings["mask_token"]:
        magnitudes = magnitudes * (1.0 - ops.cast(hidden, magnitudes.dtype))
    excluding = settings["mask_format"] == "K" and float(settings["mask_alpha"]) <= EXCLUDING_ALPHA
    if excluding:
        return magnitudes, {"ignore_mask": ignore_mask}
    return magnitudes, {"ignore_mask": steps["padding_mask"], "exclude_mask": hidden}


@keras.saving.register_keras_serializable(package="astromer")
class AstromerBackbone(Backbone):
    """Astromer encoder: input embedding, then a stack of attention blocks.

    Inputs (a dict; every tensor is `(batch, window_size)`):

    - `magnitudes`: window-centred magnitudes (0 on padding),
    - `times`: window-centred times in days (0 on padding),
    - `padding_mask`: 1 on padded steps (no observation),
    - `hidden_mask`: 1 on hidden probes, whose magnitude the model must not
      see (pretraining). All zeros at inference.

    Padded and hidden steps together form the original `mask_in`; they get
    the mask token (if enabled) and the attention bias `mask_alpha`.

    Outputs (a dict with fixed keys):

    - `sequence_output`: `(batch, window_size, hidden_dim)`, last block,
    - `input_embedding`: `(batch, window_size, hidden_dim)`, before dropout,
    - `block_outputs`: list of `num_layers` tensors like `sequence_output`.

    Args:
        num_layers: int. Attention blocks (A1: 2, A2: 6).
        num_heads: int. Heads per block (4).
        head_dim: int. Size of each head (64); `hidden_dim = num_heads * head_dim`.
        ff_dim: int. Units of the tanh feed-forward layer (A1: 128, A2: 256).
        window_size: int. Observations per window (200).
        dropout: float. Dropout on the input embedding and in every block.
        pe_base: float. Time-encoding base (paper: 1000; original code: 10000).
        mask_alpha: float. Attention bias on masked keys (the original
            `m_alpha`; -1e9 = excluded as in the paper's Eq. 3).
        mask_format: "K", "Q" or "QK" (see `astromer.layers.attention`).
        temperature: float. Attention temperature (0 = off).
        use_leak: bool. Original learned-projection "residuals".
        mask_token: bool. Replace masked magnitudes by a trainable token (A2).
        attention_implementation: "auto", "explicit", "fused" or
            "lengths": masked steps sorted last and excluded by per-window
            key lengths (`astromer.layers.step_order`); needs an excluding
            key mask; same results as "fused" within float tolerance.
        fused_qkv: bool. Query, key and value projections as one matmul
            (True) or three (see `AstromerAttention`); same results.
        layer_norm_epsilon: float.
        band_names: list of band names for a joint multi-band model (an
            extra `bands` input of band indices and a learned band
            embedding); None for single-band models.
        hidden_steps: "excluded" (default, every preset: hidden probes
            replaced and excluded from attention, see `hidden_step_masks`)
            or "original" (the original codes' probe mode, to compare with
            their outputs; never for training).
        dtype: dtype policy name, e.g. "float32" or "mixed_bfloat16".

    Example:
    >>> backbone = AstromerBackbone.from_preset("a2")
    >>> out = backbone({"magnitudes": m, "times": t,
    ...                 "padding_mask": pad, "hidden_mask": 0 * pad})
    >>> out["sequence_output"].shape
    (batch, 200, 256)

    References: Donoso-Oliva et al. 2023 (A&A 670, A54), Astromer 1;
    Donoso-Oliva et al. 2025, Astromer 2.
    """

    input_names = ("magnitudes", "times", "padding_mask", "hidden_mask")

    def __init__(
        self,
        num_layers=6,
        num_heads=4,
        head_dim=64,
        ff_dim=256,
        window_size=200,
        dropout=0.1,
        pe_base=1000.0,
        mask_alpha=-1e9,
        mask_format="K",
        temperature=0.0,
        use_leak=False,
        mask_token=True,
        attention_implementation="auto",
        fused_qkv=True,
        layer_norm_epsilon=1e-6,
        band_names=None,
        hidden_steps="excluded",
        dtype=None,
        **kwargs,
    ):
        settings = self.settings(locals())
        check_choice("hidden_steps", hidden_steps, HIDDEN_STEPS)
        check_positive_int("num_layers", num_layers)
        check_positive_int("window_size", window_size)
        check_choice("attention_implementation", attention_implementation, BACKBONE_ATTENTION)
        sort_keys = attention_implementation == "lengths"
        if sort_keys and (mask_format != "K" or float(mask_alpha) > EXCLUDING_ALPHA):
            raise ValueError(
                f'attention_implementation="lengths" excludes masked keys, which needs '
                f'mask_format="K" and mask_alpha <= {EXCLUDING_ALPHA:g}; this model has '
                f"mask_format={mask_format!r}, mask_alpha={mask_alpha!r} (an original soft or "
                f'bonus mask). Use attention_implementation="fused" for it.'
            )
        hidden_dim = int(num_heads) * int(head_dim)
        input_names = self.names_with_bands(band_names)
        inputs = self.inputs_for(window_size, input_names)
        ignore_mask = ops.maximum(inputs["padding_mask"], inputs["hidden_mask"])
        steps_in = inputs
        key_lengths = None
        if sort_keys:
            order, restore, key_lengths = masked_last_order(ignore_mask)
            to_sorted = PermuteSteps(name="sort_steps")
            steps_in = {name: to_sorted(x, order) for name, x in inputs.items()}
            ignore_mask = to_sorted(ignore_mask, order)

        magnitudes = steps_in["magnitudes"]
        if mask_token:
            magnitudes = MaskToken(dtype=dtype, name="mask_token")(magnitudes, ignore_mask)
        magnitudes, masks = hidden_step_masks(magnitudes, steps_in, ignore_mask, settings)
        embedding = AstromerInputEmbedding(
            hidden_dim, pe_base=pe_base, dtype=dtype, name="input_embedding"
        )(magnitudes, steps_in["times"])
        embedding = self.add_band_embedding(embedding, steps_in.get("bands"), band_names, dtype)
        x = HashDropout(dropout, dtype=dtype, name="embedding_dropout")(embedding)
        block_outputs = self.stack_blocks(
            x,
            settings,
            AstromerEncoderBlock,
            {"key_lengths": key_lengths} if sort_keys else masks,
            attention_implementation="fused" if sort_keys else attention_implementation,
        )
        x = block_outputs[-1]
        if sort_keys:
            to_original = PermuteSteps(name="restore_steps")
            x, embedding, *block_outputs = [
                to_original(t, restore) for t in (x, embedding, *block_outputs)
            ]

        outputs = {"sequence_output": x, "input_embedding": embedding, "block_outputs": block_outputs}
        self.init_backbone(inputs, outputs, settings, **kwargs)

    def attention_scores(self, inputs, block=0):
        """Attention of block `block` on `inputs`: `(batch, heads, steps, steps)`.

        Runs eagerly on concrete inputs (for plots, not training).
        """
        inputs = self.check_block(inputs, block)
        ignore_mask = ops.maximum(inputs["padding_mask"], inputs["hidden_mask"])
        magnitudes = ops.convert_to_tensor(inputs["magnitudes"])
        if self.mask_token:
            magnitudes = self.get_layer("mask_token")(magnitudes, ignore_mask)
        magnitudes, masks = hidden_step_masks(magnitudes, inputs, ignore_mask, self.get_config())
        embedding = self.get_layer("input_embedding")(magnitudes, inputs["times"])
        return self.block_scores(embedding, inputs, block, **masks)

    @classmethod
    def from_original_checkpoint(cls, path, preset=None, uncertainty_weighted=None, **overrides):
        """The encoder of an original checkpoint, without its reconstruction
        head (arguments as `Pretrainer.from_original_checkpoint`;
        `uncertainty_weighted` concerns the task and is ignored)."""
        checkpoint = convert.read_original(path, preset=preset, **overrides)
        backbone = cls(**checkpoint.model_config)
        convert.assign_original_weights(backbone, checkpoint.arrays, source=checkpoint.source)
        return backbone
