"""AstroCo layers against NumPy references with hand-set weights."""

import math

import numpy as np
import pytest

from astromer.layers.astroco_embedding import AstroCoInputEmbedding
from astromer.layers.conformer_block import ConformerBlock
from astromer.layers.conv_module import ConformerConvModule
from astromer.layers.gated_ffn import GatedFeedForward
from tests.conftest import to_numpy
from tests.harness import run_layer_test

ATOL = 3e-5


# --- NumPy references (float64) -------------------------------------------


def layer_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps) * gamma + beta


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def depthwise_conv(x, kernel, bias):
    """The paper's equation: y[t] = sum_k W[k] x[t + k - K // 2], zeros outside."""
    b, n, d = x.shape
    size = kernel.shape[0]
    y = np.zeros_like(x) + bias
    for t in range(n):
        for k in range(size):
            s = t + k - size // 2
            if 0 <= s < n:
                y[:, t] += kernel[k] * x[:, s]
    return y


def time_features(t, dim, base):
    j = np.arange(dim)
    angles = t[..., None] * base ** (-2.0 * j / dim)
    return np.where(j % 2 == 0, np.sin(angles), np.cos(angles))


def numpy_conv_module(x, pad, w, training, momentum=0.9, eps=1e-5):
    """Returns the output and, in training, the updated moving statistics."""
    d = x.shape[-1]
    h = layer_norm(x, w["ln_in_g"], w["ln_in_b"]) @ w["pw_in_k"] + w["pw_in_b"]
    g = h[..., :d] * sigmoid(h[..., d:])
    g = g * (1 - pad)[..., None]
    c = depthwise_conv(g, w["dw_k"], w["dw_b"])
    real = c[pad == 0]
    if training:
        mean, var = real.mean(0), real.var(0)
        moving = (
            momentum * w["bn_mean"] + (1 - momentum) * mean,
            momentum * w["bn_var"] + (1 - momentum) * var,
        )
    else:
        mean, var, moving = w["bn_mean"], w["bn_var"], None
    c = (c - mean) / np.sqrt(var + eps) * w["bn_g"] + w["bn_b"]
    c = c * sigmoid(c)
    branch = c @ w["pw_out_k"] + w["pw_out_b"]
    return layer_norm(x + branch, w["ln_out_g"], w["ln_out_b"]), moving


def numpy_gated_ffn(x, w):
    val = gelu(x @ w["val_k"] + w["val_b"])
    gate = sigmoid(x @ w["gate_k"] + w["gate_b"])
    return layer_norm(x + (val * gate) @ w["out_k"] + w["out_b"], w["ln_g"], w["ln_b"])


def numpy_attention(x, pad, w, heads, head_dim):
    b, n, _ = x.shape
    q, k, v = (
        (x @ w[f"{p}_k"] + w[f"{p}_b"]).reshape(b, n, heads, head_dim) for p in ("q", "k", "v")
    )
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(head_dim) - 1e9 * pad[:, None, None, :]
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    out = np.einsum("bhqk,bkhd->bqhd", a, v).reshape(b, n, heads * head_dim)
    return out @ w["o_k"] + w["o_b"]


# --- helpers that set random weights and return them as NumPy --------------


def set_dense(rng, layer, prefix, w, scale=0.5):
    w[f"{prefix}_k"] = (scale * rng.normal(size=layer.kernel.shape)).astype("float32")
    w[f"{prefix}_b"] = (0.1 * rng.normal(size=layer.bias.shape)).astype("float32")
    layer.kernel.assign(w[f"{prefix}_k"])
    layer.bias.assign(w[f"{prefix}_b"])


def set_norm(rng, layer, prefix, w):
    d = layer.gamma.shape[0]
    w[f"{prefix}_g"] = (1 + 0.2 * rng.normal(size=d)).astype("float32")
    w[f"{prefix}_b"] = (0.2 * rng.normal(size=d)).astype("float32")
    layer.gamma.assign(w[f"{prefix}_g"])
    layer.beta.assign(w[f"{prefix}_b"])


def set_conv_module(rng, conv, w=None):
    w = {} if w is None else w
    set_norm(rng, conv.norm_in, "ln_in", w)
    set_dense(rng, conv.pointwise_in, "pw_in", w)
    kernel = (0.5 * rng.normal(size=conv.depthwise.kernel.shape)).astype("float32")
    conv.depthwise.kernel.assign(kernel)
    w["dw_k"] = kernel[:, :, 0]
    w["dw_b"] = (0.1 * rng.normal(size=conv.depthwise.bias.shape)).astype("float32")
    conv.depthwise.bias.assign(w["dw_b"])
    set_norm(rng, conv.batch_norm, "bn", w)
    d = w["bn_g"].shape[0]
    w["bn_mean"] = (0.3 * rng.normal(size=d)).astype("float32")
    w["bn_var"] = rng.uniform(0.5, 2.0, size=d).astype("float32")
    conv.batch_norm.moving_mean.assign(w["bn_mean"])
    conv.batch_norm.moving_variance.assign(w["bn_var"])
    set_dense(rng, conv.pointwise_out, "pw_out", w)
    set_norm(rng, conv.norm_out, "ln_out", w)
    return w


def set_gated_ffn(rng, ffn, w=None):
    w = {} if w is None else w
    set_dense(rng, ffn.value_projection, "val", w)
    set_dense(rng, ffn.gate_projection, "gate", w)
    set_dense(rng, ffn.output_projection, "out", w)
    set_norm(rng, ffn.norm, "ln", w)
    return w


def padded_batch(rng, n=2, steps=9, dim=6):
    x = rng.normal(size=(n, steps, dim)).astype("float32")
    pad = np.zeros((n, steps), "float32")
    pad[0, 6:] = 1  # trailing padding
    pad[1, 3] = 1  # and a gap in the middle: masks need not be contiguous
    return x, pad


# --- input embedding -------------------------------------------------------


@pytest.mark.parametrize("dim", [7])
def test_embedding_matches_numpy(dim):
    rng = np.random.default_rng(0)
    embed = AstroCoInputEmbedding(dim, pe_base=1000.0)
    m, e = rng.normal(size=(2, 2, 5)).astype("float32")
    e = np.abs(e)
    t = rng.uniform(-40, 40, (2, 5)).astype("float32")
    mask = np.array([[0, 1, 0, 0, 1], [0, 0, 0, 0, 0]], "float32")
    embed(m, e, t, mask)
    # Odd sizes give the extra feature to the photometry.
    assert (embed.photometry_dim, embed.time_dim) == (dim - dim // 2, dim // 2)
    w = {}
    set_dense(rng, embed.photometry_projection, "p", w)
    set_dense(rng, embed.fusion, "f", w, scale=0.3)
    set_norm(rng, embed.norm, "ln", w)
    keep = 1 - mask
    photometry = np.stack([m * keep, e * keep], -1) @ w["p_k"] + w["p_b"]
    features = np.concatenate([photometry, time_features(t * keep, dim // 2, 1000.0)], -1)
    expected = layer_norm(gelu(features @ w["f_k"] + w["f_b"]), w["ln_g"], w["ln_b"])
    np.testing.assert_allclose(to_numpy(embed(m, e, t, mask)), expected, atol=ATOL)


def test_embedding_placeholder_hides_every_input():
    rng = np.random.default_rng(1)
    embed = AstroCoInputEmbedding(6)
    m, e, t = rng.normal(size=(3, 1, 4)).astype("float32")
    mask = np.array([[0, 1, 0, 1]], "float32")
    base = to_numpy(embed(m, e, t, mask))
    m2, e2, t2 = m.copy(), e.copy(), t.copy()
    for a in (m2, e2, t2):
        a[mask > 0] = [np.nan, 1e4]
    out = to_numpy(embed(m2, e2, t2, mask))
    np.testing.assert_array_equal(out, base)
    # Both placeholders are the same vector: the embedding of (0, 0, 0).
    np.testing.assert_array_equal(out[0, 1], out[0, 3])
    zero = np.zeros((1, 1), "float32")
    np.testing.assert_allclose(out[0, 1], to_numpy(embed(zero, zero, zero, zero))[0, 0], atol=1e-6)


def test_embedding_keeps_times_in_float32_under_mixed_precision():
    # bfloat16 has 8 significant bits: a time of ~1000 days would be rounded
    # by up to 4 days before the sinusoids saw it, scrambling every feature.
    rng = np.random.default_rng(8)
    m, e = rng.normal(size=(2, 2, 5)).astype("float32")
    t = rng.uniform(900, 1100, (2, 5)).astype("float32")
    mask = np.zeros((2, 5), "float32")
    full = AstroCoInputEmbedding(16)
    half = AstroCoInputEmbedding(16, dtype="mixed_bfloat16")
    want = to_numpy(full(m, e, t, mask))
    half(m, e, t, mask)
    half.set_weights(full.get_weights())
    got = to_numpy(half(m, e, t, mask), np.float32)
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 2e-2
    assert AstroCoInputEmbedding.from_config(half.get_config()).dtype_policy.name == "mixed_bfloat16"


# --- convolution module ----------------------------------------------------


@pytest.mark.parametrize("kernel_size", [4])
def test_conv_module_inference_matches_numpy(kernel_size):
    rng = np.random.default_rng(2)
    conv = ConformerConvModule(kernel_size=kernel_size, dropout=0.5)
    x, pad = padded_batch(rng)
    conv(x, padding_mask=pad)
    w = set_conv_module(rng, conv)
    expected, _ = numpy_conv_module(x.astype(np.float64), pad, w, training=False)
    np.testing.assert_allclose(to_numpy(conv(x, padding_mask=pad)), expected, atol=ATOL)
    # Inference leaves the moving statistics alone.
    np.testing.assert_array_equal(to_numpy(conv.batch_norm.moving_mean), w["bn_mean"])
    # Without a mask every step counts as real.
    no_pad, _ = numpy_conv_module(x.astype(np.float64), 0 * pad, w, training=False)
    np.testing.assert_allclose(to_numpy(conv(x)), no_pad, atol=ATOL)


def test_conv_module_training_uses_masked_batch_statistics():
    rng = np.random.default_rng(3)
    conv = ConformerConvModule(kernel_size=4, dropout=0.0)
    x, pad = padded_batch(rng)
    conv(x, padding_mask=pad)
    w = set_conv_module(rng, conv)
    expected, (mean, var) = numpy_conv_module(x.astype(np.float64), pad, w, training=True)
    out = to_numpy(conv(x, padding_mask=pad, training=True))
    real = pad == 0
    np.testing.assert_allclose(out[real], expected[real], atol=ATOL)
    np.testing.assert_allclose(to_numpy(conv.batch_norm.moving_mean), mean, atol=1e-5)
    np.testing.assert_allclose(to_numpy(conv.batch_norm.moving_variance), var, atol=1e-5)


def test_conv_module_kernel_alignment_is_the_papers():
    # A one-hot kernel at tap k copies the input from t + k - K // 2: with
    # K = 4, tap 0 reads two steps back, tap 3 one step ahead.
    conv = ConformerConvModule(kernel_size=4)
    x = np.zeros((1, 6, 2), "float32")
    conv(x)
    impulse = np.zeros((1, 6, 2), "float32")
    impulse[0, 3] = 1.0
    for tap, shift in ((0, 2), (3, -1)):
        kernel = np.zeros((4, 2, 1), "float32")
        kernel[tap] = 1.0
        conv.depthwise.kernel.assign(kernel)
        out = to_numpy(conv.depthwise(np.pad(impulse, [(0, 0), (2, 1), (0, 0)])))
        assert np.argmax(out[0, :, 0]) == 3 + shift


@pytest.mark.parametrize("training", [False, True])
def test_conv_module_ignores_padding(training):
    rng = np.random.default_rng(4)
    conv = ConformerConvModule(kernel_size=5, dropout=0.0)
    x, pad = padded_batch(rng)
    conv(x, padding_mask=pad)
    set_conv_module(rng, conv)
    base = to_numpy(conv(x, padding_mask=pad, training=training))
    real = pad == 0
    # New values on padded steps.
    changed = x.copy()
    changed[pad > 0] = rng.normal(size=changed[pad > 0].shape) * 100
    out = to_numpy(conv(changed, padding_mask=pad, training=training))
    np.testing.assert_allclose(out[real], base[real], atol=1e-6)
    # More padding: four extra padded steps at the end of every window.
    longer = np.concatenate([x, rng.normal(size=(2, 4, 6)).astype("float32")], 1)
    longer_pad = np.concatenate([pad, np.ones((2, 4), "float32")], 1)
    out = to_numpy(conv(longer, padding_mask=longer_pad, training=training))
    np.testing.assert_allclose(out[:, :9][real], base[real], atol=1e-5)


def test_conv_module_dropout_only_in_training():
    rng = np.random.default_rng(5)
    conv = ConformerConvModule(kernel_size=3, dropout=0.5)
    x, pad = padded_batch(rng)
    conv(x, padding_mask=pad)
    # A dropout-free twin with the same weights: the two differ only by dropout.
    twin = ConformerConvModule(kernel_size=3, dropout=0.0)
    twin(x, padding_mask=pad)
    twin.set_weights(conv.get_weights())
    np.testing.assert_array_equal(
        to_numpy(conv(x, padding_mask=pad)), to_numpy(twin(x, padding_mask=pad))
    )
    assert not np.allclose(
        to_numpy(conv(x, padding_mask=pad, training=True)),
        to_numpy(twin(x, padding_mask=pad, training=True)),
        atol=1e-3,
    )


# --- gated feed-forward ----------------------------------------------------


def test_gated_ffn_matches_numpy():
    rng = np.random.default_rng(6)
    ffn = GatedFeedForward(expansion=3, dropout=0.5)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    ffn(x)
    assert ffn.value_projection.kernel.shape == (4, 12)
    assert ffn.output_projection.kernel.shape == (12, 4)
    w = set_gated_ffn(rng, ffn)
    expected = numpy_gated_ffn(x.astype(np.float64), w)
    np.testing.assert_allclose(to_numpy(ffn(x)), expected, atol=ATOL)
    np.testing.assert_allclose(to_numpy(ffn(x, training=False)), expected, atol=ATOL)
    assert not np.allclose(to_numpy(ffn(x, training=True)), expected, atol=1e-3)


# --- the whole block -------------------------------------------------------


def test_conformer_block_matches_numpy():
    rng = np.random.default_rng(7)
    block = ConformerBlock(num_heads=2, head_dim=3, conv_kernel_size=4, ffn_expansion=2)
    x, pad = padded_batch(rng)
    block(x, padding_mask=pad)
    w = {}
    attention = block.attention
    for prefix, layer in (
        ("q", attention.query), ("k", attention.key), ("v", attention.value),
        ("o", attention.output_dense),
    ):
        set_dense(rng, layer, prefix, w)
    set_norm(rng, block.attention_norm, "att_ln", w)
    conv_w = set_conv_module(rng, block.conv_module)
    ffn_w = set_gated_ffn(rng, block.feed_forward)

    x64 = x.astype(np.float64)
    h = layer_norm(x64 + numpy_attention(x64, pad, w, 2, 3), w["att_ln_g"], w["att_ln_b"])
    h, _ = numpy_conv_module(h, pad, conv_w, training=False)
    expected = numpy_gated_ffn(h, ffn_w)
    np.testing.assert_allclose(to_numpy(block(x, padding_mask=pad)), expected, atol=1e-4)
    output, scores = block(x, padding_mask=pad, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(output), expected, atol=1e-4)
    # Padded keys get no attention; hidden steps are not masked here.
    assert to_numpy(scores)[0, :, :, 6:].max() == 0.0


def test_configs_round_trip_and_validate():
    layers = [
        AstroCoInputEmbedding(9, pe_base=1000.0, layer_norm_epsilon=1e-6),
        ConformerConvModule(kernel_size=7, dropout=0.2, batch_norm_momentum=0.99),
        GatedFeedForward(expansion=2, dropout=0.3),
        ConformerBlock(3, 5, dropout=0.2, conv_kernel_size=9, ffn_expansion=2,
                       attention_implementation="explicit"),
    ]
    for layer in layers:
        run_layer_test(layer)
    with pytest.raises(ValueError, match=r"`hidden_dim` must be at least 2.*got 1"):
        AstroCoInputEmbedding(1)
    with pytest.raises(ValueError, match=r"`kernel_size` must be a positive integer, got 0"):
        ConformerConvModule(kernel_size=0)
    with pytest.raises(ValueError, match=r"`batch_norm_momentum` must be in \[0, 1\).*got 1.5"):
        ConformerConvModule(batch_norm_momentum=1.5)
    with pytest.raises(ValueError, match=r"`expansion` must be a positive integer, got -1"):
        GatedFeedForward(expansion=-1)
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\), got 1.0"):
        ConformerBlock(2, 4, dropout=1.0)
