import numpy as np
import pytest

from astromer.layers.encoder_block import AstromerEncoderBlock
from astromer.layers.heads import ReconstructionHead
from astromer.layers.mask_token import MaskToken
from tests.conftest import to_numpy
from tests.harness import run_layer_test


def layer_norm(x, gamma, beta, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def numpy_block(x, mask, w, heads, head_dim, use_leak):
    b, n, d = x.shape
    qkv = [x @ w[f"{p}_k"] + w[f"{p}_b"] for p in ("q", "k", "v")]
    qh, kh, vh = (t.reshape(b, n, heads, head_dim) for t in qkv)
    logits = np.einsum("bqhd,bkhd->bhqk", qh, kh) / np.sqrt(head_dim) - 1e9 * mask[:, None, None, :]
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    att = np.einsum("bhqk,bkhd->bqhd", a, vh).reshape(b, n, heads * head_dim) @ w["o_k"] + w["o_b"]
    if use_leak:
        att = x @ w["l1_k"] + w["l1_b"] + att
    h = layer_norm(att, w["n1_g"], w["n1_b"])
    f = np.tanh(h @ w["f1_k"] + w["f1_b"]) @ w["f2_k"] + w["f2_b"]
    if use_leak:
        f = h @ w["l2_k"] + w["l2_b"] + f
    return layer_norm(f, w["n2_g"], w["n2_b"])


@pytest.mark.parametrize("use_leak", [False, True])
def test_block_matches_numpy_with_set_weights(use_leak):
    rng = np.random.default_rng(0)
    block = AstromerEncoderBlock(num_heads=2, head_dim=4, ff_dim=6, use_leak=use_leak)
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    mask = np.array([[0, 0, 0, 1, 1], [0, 1, 0, 0, 0]], "float32")
    block(x, ignore_mask=mask)
    w = {}
    for name, layer in [
        ("q", block.attention.query), ("k", block.attention.key), ("v", block.attention.value),
        ("o", block.attention.output_dense), ("f1", block.ffn_hidden), ("f2", block.ffn_output),
    ] + ([("l1", block.leak_attention), ("l2", block.leak_ffn)] if use_leak else []):
        w[f"{name}_k"] = rng.normal(size=layer.kernel.shape).astype("float32") * 0.5
        w[f"{name}_b"] = rng.normal(size=layer.bias.shape).astype("float32") * 0.1
        layer.kernel.assign(w[f"{name}_k"])
        layer.bias.assign(w[f"{name}_b"])
    for name, layer in (("n1", block.attention_norm), ("n2", block.ffn_norm)):
        w[f"{name}_g"] = 1 + 0.1 * rng.normal(size=8).astype("float32")
        w[f"{name}_b"] = 0.1 * rng.normal(size=8).astype("float32")
        layer.gamma.assign(w[f"{name}_g"])
        layer.beta.assign(w[f"{name}_b"])
    expected = numpy_block(x.astype(np.float64), mask, w, 2, 4, use_leak)
    np.testing.assert_allclose(to_numpy(block(x, ignore_mask=mask)), expected, atol=2e-5)
    # Dropout only acts in training.
    np.testing.assert_allclose(to_numpy(block(x, ignore_mask=mask, training=False)), expected, atol=2e-5)
    assert not np.allclose(to_numpy(block(x, ignore_mask=mask, training=True)), expected, atol=1e-3)


def test_block_has_no_identity_residual():
    # Without use_leak the output depends on x only through attention: with a
    # zero value projection and zero biases the output is the same constant
    # for any input (the original has no residual connection).
    block = AstromerEncoderBlock(num_heads=1, head_dim=4, ff_dim=4)
    x = np.random.default_rng(1).normal(size=(1, 3, 4)).astype("float32")
    block(x)
    block.attention.value.kernel.assign(np.zeros((4, 4), "float32"))
    out1 = to_numpy(block(x))
    out2 = to_numpy(block(x * 10 + 3))
    np.testing.assert_allclose(out1, out2, atol=1e-6)


def test_block_config_round_trip():
    run_layer_test(AstromerEncoderBlock(4, 8, 16, dropout=0.2, mask_alpha=1.0, mask_format="QK", use_leak=True))
    with pytest.raises(ValueError, match="dropout"):
        AstromerEncoderBlock(4, 8, 16, dropout=1.5)


def test_mask_token_replaces_masked_values_only():
    token = MaskToken(initial_value=0.37)
    mags = np.array([[1.0, -2.0, 3.0]], "float32")
    out = to_numpy(token(mags, np.array([[0.0, 1.0, 1.0]], "float32")))
    np.testing.assert_allclose(out, [[1.0, 0.37, 0.37]], atol=1e-7)
    default = MaskToken()
    np.testing.assert_allclose(to_numpy(default(mags, np.array([[1.0, 0.0, 0.0]], "float32"))), [[0.0, -2.0, 3.0]])


def test_reconstruction_head_is_layernorm_then_dense():
    rng = np.random.default_rng(3)
    head = ReconstructionHead()
    x = rng.normal(size=(2, 4, 6)).astype("float32")
    head(x)
    kernel = rng.normal(size=(6, 1)).astype("float32")
    head.dense.kernel.assign(kernel)
    head.dense.bias.assign(np.array([0.5], "float32"))
    expected = (layer_norm(x, 1.0, 0.0) @ kernel)[..., 0] + 0.5
    np.testing.assert_allclose(to_numpy(head(x)), expected, atol=1e-5)
