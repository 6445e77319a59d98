"""The Astromer encoder (Astromer 1 and Astromer 2) as a functional backbone."""

import keras

from astromer.layers.dropout import HashDropout
from keras import ops

from astromer.layers.attention import ATTENTION_IMPLEMENTATIONS, EXCLUDING_ALPHA
from astromer.layers.band_embedding import BandEmbedding
from astromer.layers.encoder_block import AstromerEncoderBlock
from astromer.layers.input_embedding import AstromerInputEmbedding
from astromer.layers.mask_token import MaskToken
from astromer.layers.step_order import PermuteSteps, masked_last_order
from astromer.models.backbone import Backbone


BACKBONE_ATTENTION = ATTENTION_IMPLEMENTATIONS + ("lengths",)


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
            "lengths". "lengths" reorders each window so its masked steps
            come last and excludes them from attention by per-window key
            lengths instead of a bias tensor (JAX: cuDNN's padding mask,
            `astromer.layers.attention.key_length_attention`); outputs come
            back in the original order. It needs an excluding key mask
            (`mask_format="K"`, `mask_alpha <= -1e4`); same results as
            "fused" within float tolerance.
        fused_qkv: bool. Query, key and value projections as one matmul
            (True) or three (see `AstromerAttention`); same results.
        layer_norm_epsilon: float.
        band_names: list of band names for a joint multi-band model (an
            extra `bands` input of band indices and a learned band
            embedding); None for single-band models.
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
        dtype=None,
        **kwargs,
    ):
        for name, value in (("num_layers", num_layers), ("window_size", window_size)):
            if int(value) <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if attention_implementation not in BACKBONE_ATTENTION:
            raise ValueError(
                f"Unknown attention_implementation {attention_implementation!r}; "
                f"use one of {BACKBONE_ATTENTION}."
            )
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
        embedding = AstromerInputEmbedding(
            hidden_dim, pe_base=pe_base, dtype=dtype, name="input_embedding"
        )(magnitudes, steps_in["times"])
        if band_names:
            embedding = BandEmbedding(len(band_names), hidden_dim, dtype=dtype, name="band_embedding")(
                embedding, steps_in["bands"]
            )
        x = HashDropout(dropout, dtype=dtype, name="embedding_dropout")(embedding)
        block_outputs = []
        for i in range(int(num_layers)):
            x = AstromerEncoderBlock(
                num_heads=num_heads,
                head_dim=head_dim,
                ff_dim=ff_dim,
                dropout=dropout,
                mask_alpha=mask_alpha,
                mask_format=mask_format,
                temperature=temperature,
                attention_implementation="fused" if sort_keys else attention_implementation,
                fused_qkv=fused_qkv,
                use_leak=use_leak,
                layer_norm_epsilon=layer_norm_epsilon,
                dtype=dtype,
                name=f"block_{i}",
            )(x, **({"key_lengths": key_lengths} if sort_keys else {"ignore_mask": ignore_mask}))
            block_outputs.append(x)
        if sort_keys:
            to_original = PermuteSteps(name="restore_steps")
            x, embedding, *block_outputs = [
                to_original(t, restore) for t in (x, embedding, *block_outputs)
            ]

        super().__init__(
            inputs=inputs,
            outputs={
                "sequence_output": x,
                "input_embedding": embedding,
                "block_outputs": block_outputs,
            },
            dtype=dtype,
            **kwargs,
        )
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        self.hidden_dim = hidden_dim
        self.ff_dim = int(ff_dim)
        self.window_size = int(window_size)
        self.dropout = float(dropout)
        self.pe_base = float(pe_base)
        self.mask_alpha = float(mask_alpha)
        self.mask_format = mask_format
        self.temperature = float(temperature)
        self.use_leak = bool(use_leak)
        self.mask_token = bool(mask_token)
        self.attention_implementation = attention_implementation
        self.fused_qkv = bool(fused_qkv)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.input_names = input_names
        self.band_names = list(band_names) if band_names else None
        # Functional models ignore `dtype`; the policy lives on the layers.
        self.layer_dtype = keras.dtype_policies.get(dtype) if dtype else None

    def attention_scores(self, inputs, block=0):
        """Attention of block `block` on `inputs`: `(batch, heads, steps, steps)`.

        Runs eagerly on concrete inputs (for plots, not training).
        """
        inputs = self.validate_inputs(inputs)
        if not 0 <= block < self.num_layers:
            raise ValueError(f"block must be in [0, {self.num_layers}), got {block!r}.")
        ignore_mask = ops.maximum(inputs["padding_mask"], inputs["hidden_mask"])
        magnitudes = ops.convert_to_tensor(inputs["magnitudes"])
        if self.mask_token:
            magnitudes = self.get_layer("mask_token")(magnitudes, ignore_mask)
        x = self.get_layer("input_embedding")(magnitudes, inputs["times"])
        if self.band_names:
            x = self.get_layer("band_embedding")(x, inputs["bands"])
        for i in range(block):
            x = self.get_layer(f"block_{i}")(x, ignore_mask=ignore_mask)
        _, scores = self.get_layer(f"block_{block}")(
            x, ignore_mask=ignore_mask, return_attention_scores=True
        )
        return scores

    @classmethod
    def from_original_checkpoint(cls, path, **overrides):
        """The encoder of an original checkpoint (see `astromer.convert.load_original`)."""
        from astromer.convert import load_original

        return load_original(path, **overrides).backbone

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "head_dim": self.head_dim,
            "ff_dim": self.ff_dim,
            "window_size": self.window_size,
            "dropout": self.dropout,
            "pe_base": self.pe_base,
            "mask_alpha": self.mask_alpha,
            "mask_format": self.mask_format,
            "temperature": self.temperature,
            "use_leak": self.use_leak,
            "mask_token": self.mask_token,
            "attention_implementation": self.attention_implementation,
            "fused_qkv": self.fused_qkv,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "band_names": self.band_names,
            "dtype": keras.dtype_policies.serialize(self.layer_dtype) if self.layer_dtype else None,
        }
