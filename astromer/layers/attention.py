"""Multi-head self-attention with Astromer's additive mask."""

import math
import warnings

import keras
from keras import ops

from astromer.layers.base import SequenceLayer, check_choice

MASK_FORMATS = ("K", "Q", "QK")
ATTENTION_IMPLEMENTATIONS = ("auto", "explicit", "fused")
# A bias at or below this excludes a key: exp(-1e4 + logit) is 0 in float32
# for any logit a trained model produces, as exp(-1e9) is.
EXCLUDING_ALPHA = -1e4


def attention_bias(ignore_mask, mask_alpha, mask_format):
    """Additive logit bias built from a `(batch, steps)` mask.

    `ignore_mask` is 1 on steps to keep out of attention (hidden probes and
    padding; the original `mask_in`). The bias is `mask_alpha * M` with

    - "K":  M[q, k] = m_k (masked keys; Astromer 2 paper Eq. 3),
    - "Q":  M[q, k] = m_q (a constant per query row: a no-op under softmax,
      kept because it is the original `get_ASTROMER` default),
    - "QK": M[q, k] = min(1, m_q + m_k) (Astromer 1 code; with
      `mask_alpha=+1` this is the +1 *bonus* the published A1 weights were
      trained with).

    Returns a float32 tensor broadcastable to `(batch, heads, q, k)`.
    """
    m = ops.cast(ignore_mask, "float32")
    if mask_format == "K":
        matrix = m[:, None, None, :]
    elif mask_format == "Q":
        matrix = m[:, None, :, None]
    elif mask_format == "QK":
        matrix = ops.minimum(1.0, m[:, None, :, None] + m[:, None, None, :])
    else:
        raise ValueError(
            f"Unknown mask_format {mask_format!r}; use one of {MASK_FORMATS}."
        )
    return matrix * float(mask_alpha)


def scaled_dot_product_attention(
    query,
    key,
    value,
    ignore_mask=None,
    mask_alpha=-1e9,
    mask_format="K",
    temperature=0.0,
    return_attention_scores=False,
    implementation="explicit",
    key_lengths=None,
    exclude_mask=None,
):
    """Attention on `(batch, steps, heads, head_dim)` tensors.

    Follows the original order of operations: logits / sqrt(head_dim),
    optional division by `temperature` (0 disables it), then the additive
    mask bias, then softmax over keys. Softmax runs in float32 also under
    mixed precision.

    `key_lengths` `(batch,)`, instead of `ignore_mask`, keeps only the first
    `key_lengths[b]` keys of row `b` (always excluding, whatever
    `mask_alpha`): fused, without a bias tensor (`key_length_attention`),
    or as the equivalent -1e9 key mask for scores and the explicit path.

    `exclude_mask` `(batch, steps)`, 1 on keys no query may see (hidden
    probes during training), adds -1e9 on those keys on top of the
    `ignore_mask` bias, whatever `mask_alpha` and `mask_format`: the
    original codes' soft or bonus masks keep applying to padding, while
    hidden magnitudes stay out of reach.

    Returns `(batch, steps, heads, head_dim)`, and the scores
    `(batch, heads, q, k)` when `return_attention_scores=True`.
    """
    head_dim = query.shape[-1]
    scale = 1.0 / math.sqrt(head_dim)
    if temperature:
        scale = scale / float(temperature)
    if key_lengths is not None:
        if ignore_mask is not None:
            raise ValueError("Give either ignore_mask or key_lengths, not both.")
        if implementation == "fused" and not return_attention_scores:
            return key_length_attention(query, key, value, key_lengths, scale)
        ignore_mask = ops.logical_not(_keys_kept(key_lengths, ops.shape(key)[1]))
        mask_alpha, mask_format = -1e9, "K"
    bias = None
    if ignore_mask is not None:
        bias = attention_bias(ignore_mask, mask_alpha, mask_format)
    if exclude_mask is not None:
        excluded = attention_bias(exclude_mask, -1e9, "K")
        bias = excluded if bias is None else bias + excluded

    if implementation == "fused" and not return_attention_scores:
        if bias is not None and keras.backend.backend() != "torch":
            # cuDNN's fused kernels (JAX) take a bias over the full (q, k)
            # grid only. PyTorch's SDPA broadcasts a (batch, 1, 1, k) one;
            # Keras makes the bias contiguous, which would write the full
            # grid out for every call.
            steps = ops.shape(query)[1]
            bias = ops.broadcast_to(
                ops.cast(bias, query.dtype), (ops.shape(bias)[0], 1, steps, ops.shape(key)[1])
            )
        return ops.dot_product_attention(query, key, value, bias=bias, scale=scale)

    logits = ops.einsum("bqhd,bkhd->bhqk", query, key)
    logits = ops.cast(logits, "float32")
    if temperature:
        # Two steps as in the original: divide by sqrt(d), then by the
        # temperature (keeps float32 rounding identical to it).
        logits = logits / math.sqrt(head_dim) * (1.0 / float(temperature))
    else:
        logits = logits / math.sqrt(head_dim)
    if bias is not None:
        logits = logits + bias
    scores = ops.softmax(logits, axis=-1)
    output = ops.einsum("bhqk,bkhd->bqhd", ops.cast(scores, value.dtype), value)
    if return_attention_scores:
        return output, scores
    return output


def key_length_attention(query, key, value, key_lengths, scale):
    """Fused attention over the first `key_lengths[b]` keys of each row.

    The same as `scaled_dot_product_attention` with an excluding key mask
    (`mask_format="K"`, `mask_alpha=-1e9`) that is 1 on the last steps of
    each row, but with no `(batch, 1, q, k)` bias tensor: on JAX the lengths
    go to `jax.nn.dot_product_attention(key_value_seq_lengths=...)`, which
    cuDNN applies as a padding mask inside its fused kernel. (A bias costs a
    read of the full grid in every block and, because JAX's cuDNN backward
    always returns the bias gradient, a write of it in training.) Other
    backends get an equivalent boolean mask.

    Args:
        query, key, value: `(batch, steps, heads, head_dim)`.
        key_lengths: `(batch,)` int, at least 1 (a row with no key has no
            softmax; callers clamp).
        scale: float multiplying the logits.

    Returns `(batch, steps, heads, head_dim)`.
    """
    key_lengths = ops.cast(key_lengths, "int32")
    if keras.backend.backend() == "jax":
        return _jax_key_length_attention(query, key, value, key_lengths, scale)
    keep = _keys_kept(key_lengths, ops.shape(key)[1])
    return ops.dot_product_attention(query, key, value, mask=keep[:, None, None, :], scale=scale)


def _keys_kept(key_lengths, steps):
    """`(batch, steps)` bool: True on the first `key_lengths[b]` steps."""
    return ops.less(ops.arange(steps, dtype="int32")[None, :], ops.cast(key_lengths, "int32")[:, None])


def _jax_key_length_attention(query, key, value, key_lengths, scale):
    import jax

    implementations = ["xla"]
    if jax.devices()[0].platform == "gpu" and query.dtype in ("bfloat16", "float16"):
        implementations.insert(0, "cudnn")
    for implementation in implementations:
        try:
            return jax.nn.dot_product_attention(
                query,
                key,
                value,
                scale=scale,
                key_value_seq_lengths=key_lengths,
                implementation=implementation,
            )
        except Exception as error:  # cuDNN missing or shape unsupported: XLA below
            if implementation == implementations[-1]:
                raise
            warnings.warn(f"cuDNN attention unavailable ({error}); using XLA attention.")


@keras.saving.register_keras_serializable(package="astromer")
class AstromerAttention(SequenceLayer):
    """Multi-head self-attention with the original additive mask.

    Query, key and value are three dense projections (`query`, `key`,
    `value`, kept separate so original checkpoints map one to one),
    computed as one matmul when `fused_qkv`; `output` merges the heads.

    Args:
        num_heads: int. Number of heads.
        head_dim: int. Size of each head.
        mask_alpha: float. Additive logit bias on masked entries (the
            original `m_alpha`): -1e9 excludes them (paper, Eq. 3), -0.5 is
            the soft original A2 default, +1 the A1 original.
        mask_format: "K", "Q" or "QK", see `attention_bias`.
        temperature: float. Divides the logits when non-zero.
        attention_implementation: "explicit" (einsum + softmax), "fused"
            (`keras.ops.dot_product_attention`, cuDNN/flash kernels where the
            backend has them) or "auto" (fused except when scores are
            requested). Same results within float tolerance.
        fused_qkv: bool. One matmul for the three projections (fewer,
            larger kernels), or three (each result already contiguous for a
            fused attention kernel, which otherwise gets copies of the three
            slices). Same weights and results either way.
        kernel_initializer: initializer of the projections.

    Call arguments:
        inputs: `(batch, steps, hidden_dim)`.
        ignore_mask: `(batch, steps)`, 1 on hidden or padded steps.
        exclude_mask: `(batch, steps)`, 1 on keys always excluded (see
            `scaled_dot_product_attention`).
        key_lengths: `(batch,)` int, instead of `ignore_mask`: only the
            first `key_lengths[b]` steps of row `b` are attended to (an
            excluding key mask; `AstromerBackbone` with
            `attention_implementation="lengths"` sorts masked steps last).
        return_attention_scores: also return `(batch, heads, steps, steps)`.

    Reference: Donoso-Oliva et al. 2023 (Astromer 1), 2025 (Astromer 2) Eq. 3.
    """

    def __init__(
        self,
        num_heads,
        head_dim,
        mask_alpha=-1e9,
        mask_format="K",
        temperature=0.0,
        attention_implementation="auto",
        fused_qkv=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_heads) <= 0 or int(head_dim) <= 0:
            raise ValueError(
                f"num_heads and head_dim must be positive, got {num_heads!r}, {head_dim!r}."
            )
        check_choice("mask_format", mask_format, MASK_FORMATS)
        check_choice("attention_implementation", attention_implementation, ATTENTION_IMPLEMENTATIONS)
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        self.mask_alpha = float(mask_alpha)
        self.mask_format = mask_format
        self.temperature = float(temperature)
        self.attention_implementation = attention_implementation
        self.fused_qkv = bool(fused_qkv)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        inner = self.num_heads * self.head_dim
        self.query = self.make_dense(inner, "query")
        self.key = self.make_dense(inner, "key")
        self.value = self.make_dense(inner, "value")
        self.output_dense = None

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        for layer in (self.query, self.key, self.value):
            layer.build(input_shape)
        self.output_dense = self.make_dense(hidden_dim, "output")
        self.output_dense.build(tuple(input_shape[:-1]) + (self.num_heads * self.head_dim,))

    def call(self, inputs, ignore_mask=None, key_lengths=None, return_attention_scores=False, exclude_mask=None):
        batch_shape = ops.shape(inputs)[:-1]
        if self.fused_qkv:
            kernel = ops.concatenate(
                [self.query.kernel, self.key.kernel, self.value.kernel], axis=-1
            )
            bias = ops.concatenate([self.query.bias, self.key.bias, self.value.bias], axis=-1)
            qkv = ops.matmul(inputs, kernel) + bias
            qkv = ops.reshape(qkv, tuple(batch_shape) + (3, self.num_heads, self.head_dim))
            query, key, value = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]
        else:
            heads = tuple(batch_shape) + (self.num_heads, self.head_dim)
            query, key, value = (
                ops.reshape(projection(inputs), heads)
                for projection in (self.query, self.key, self.value)
            )
        implementation = self.attention_implementation
        if implementation == "auto":
            implementation = "explicit" if return_attention_scores else "fused"
        result = scaled_dot_product_attention(
            query,
            key,
            value,
            ignore_mask=ignore_mask,
            mask_alpha=self.mask_alpha,
            mask_format=self.mask_format,
            temperature=self.temperature,
            return_attention_scores=return_attention_scores,
            implementation=implementation,
            key_lengths=key_lengths,
            exclude_mask=exclude_mask,
        )
        output, scores = (result if return_attention_scores else (result, None))
        output = ops.reshape(output, tuple(batch_shape) + (self.num_heads * self.head_dim,))
        output = self.output_dense(output)
        if return_attention_scores:
            return output, scores
        return output
