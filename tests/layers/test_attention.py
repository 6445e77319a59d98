import keras
import numpy as np
import pytest

from astromer.layers.attention import AstromerAttention, attention_bias, scaled_dot_product_attention
from tests.harness import run_layer_test

ALPHAS = {"m0p5": -0.5, "m1e9": -1e9, "p1": 1.0}


def to_bshd(x):
    return np.transpose(keras.ops.convert_to_numpy(x), (0, 2, 1, 3))


@pytest.mark.parametrize("fmt", ["K", "Q", "QK"])
@pytest.mark.parametrize("alpha_key", sorted(ALPHAS))
@pytest.mark.parametrize("implementation", ["explicit", "fused"])
def test_original_attention_unit_oracle(a2_oracle, fmt, alpha_key, implementation):
    q, k, v = (to_bshd(a2_oracle[f"unit_att_{n}"]) for n in "qkv")
    mask = a2_oracle["unit_att_mask"][..., 0]
    out = scaled_dot_product_attention(
        q, k, v, mask, mask_alpha=ALPHAS[alpha_key], mask_format=fmt, implementation=implementation
    )
    np.testing.assert_allclose(
        to_bshd(out), a2_oracle[f"unit_att_out_{fmt}_{alpha_key}"], atol=1e-6
    )
    _, scores = scaled_dot_product_attention(
        q, k, v, mask, mask_alpha=ALPHAS[alpha_key], mask_format=fmt, return_attention_scores=True
    )
    np.testing.assert_allclose(scores, a2_oracle[f"unit_att_w_{fmt}_{alpha_key}"], atol=1e-6)


def test_a1_unit_oracle_is_qk_plus_one(a1_oracle):
    q, k, v = (to_bshd(a1_oracle[f"unit_att_{n}"]) for n in "qkv")
    mask = a1_oracle["unit_att_mask"][..., 0]
    out, scores = scaled_dot_product_attention(
        q, k, v, mask, mask_alpha=1.0, mask_format="QK", return_attention_scores=True
    )
    np.testing.assert_allclose(to_bshd(out), a1_oracle["unit_att_out"], atol=1e-6)
    np.testing.assert_allclose(scores, a1_oracle["unit_att_weights"], atol=1e-6)


def test_temperature_oracle(a2_oracle):
    q, k, v = (to_bshd(a2_oracle[f"unit_att_{n}"]) for n in "qkv")
    mask = a2_oracle["unit_att_mask"][..., 0]
    _, scores = scaled_dot_product_attention(
        q, k, v, mask, mask_alpha=-0.5, mask_format="K", temperature=2.0,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(scores, a2_oracle["unit_att_w_K_m0p5_temp2"], atol=1e-6)


def test_bias_matrices_by_hand():
    mask = np.array([[0.0, 1.0, 1.0]], "float32")
    k = keras.ops.convert_to_numpy(attention_bias(mask, -2.0, "K"))
    q = keras.ops.convert_to_numpy(attention_bias(mask, -2.0, "Q"))
    qk = keras.ops.convert_to_numpy(attention_bias(mask, -2.0, "QK"))
    np.testing.assert_array_equal(np.broadcast_to(k, (1, 1, 3, 3))[0, 0], [[0, -2, -2]] * 3)
    np.testing.assert_array_equal(np.broadcast_to(q, (1, 1, 3, 3))[0, 0], [[0] * 3, [-2] * 3, [-2] * 3])
    np.testing.assert_array_equal(qk[0, 0], [[0, -2, -2], [-2, -2, -2], [-2, -2, -2]])


def test_excluded_keys_get_zero_weight_and_do_not_change_output():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 5, 2, 3)).astype("float32") for _ in range(3))
    mask = np.array([[0, 0, 0, 1, 1], [0, 1, 0, 0, 0]], "float32")
    out, scores = scaled_dot_product_attention(q, k, v, mask, return_attention_scores=True)
    scores = keras.ops.convert_to_numpy(scores)
    assert np.all(scores[0, :, :, 3:] == 0) and np.all(scores[1, :, :, 1] == 0)
    v2 = v.copy()
    v2[0, 3:] = 1e3  # values behind excluded keys are never read
    out2 = scaled_dot_product_attention(q, k, v2, mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out2)[0], keras.ops.convert_to_numpy(out)[0], atol=1e-5)


def test_layer_matches_numpy_with_set_weights():
    rng = np.random.default_rng(1)
    layer = AstromerAttention(num_heads=2, head_dim=3, mask_alpha=-1e9)
    x = rng.normal(size=(2, 4, 5)).astype("float32")
    mask = np.array([[0, 0, 1, 0], [0, 0, 0, 0]], "float32")
    layer(x, ignore_mask=mask)
    weights = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    split = lambda t: t.reshape(2, 4, 2, 3)  # noqa: E731
    qh, kh, vh = split(x @ wq + bq), split(x @ wk + bk), split(x @ wv + bv)
    logits = np.einsum("bqhd,bkhd->bhqk", qh, kh) / np.sqrt(3) + (-1e9 * mask)[:, None, None, :]
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    expected = np.einsum("bhqk,bkhd->bqhd", w, vh).reshape(2, 4, 6) @ wo + bo
    for impl in ("explicit", "fused"):
        layer.attention_implementation = impl
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, ignore_mask=mask)), expected, atol=1e-5)


def test_config_round_trip_and_bad_arguments():
    run_layer_test(AstromerAttention(4, 8, mask_alpha=-0.5, mask_format="QK", temperature=2.0))
    with pytest.raises(ValueError, match="'KQ'"):
        AstromerAttention(4, 8, mask_format="KQ")
    with pytest.raises(ValueError, match="flash"):
        AstromerAttention(4, 8, attention_implementation="flash")
    with pytest.raises(ValueError, match="-1"):
        AstromerAttention(-1, 8)


def test_bfloat16_close_to_float32():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 16, 32)).astype("float32")
    mask = (rng.uniform(size=(2, 16)) < 0.3).astype("float32")
    ref = AstromerAttention(4, 8)
    ref(x, ignore_mask=mask)
    fast = AstromerAttention(4, 8, dtype="mixed_bfloat16")
    fast(x, ignore_mask=mask)
    fast.set_weights(ref.get_weights())
    a = keras.ops.convert_to_numpy(ref(x, ignore_mask=mask))
    b = keras.ops.convert_to_numpy(keras.ops.cast(fast(x, ignore_mask=mask), "float32"))
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 2e-2


@pytest.mark.parametrize("implementation", ["explicit", "fused"])
def test_key_lengths_equal_an_excluding_suffix_mask(implementation):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 10, 16)).astype("float32")
    lengths = np.array([10, 4, 1], "int32")
    suffix = (np.arange(10)[None, :] >= lengths[:, None]).astype("float32")
    layer = AstromerAttention(2, 8, temperature=1.5, attention_implementation=implementation)
    expected = keras.ops.convert_to_numpy(layer(x, ignore_mask=suffix))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, key_lengths=lengths)), expected, atol=1e-5)
    # With the soft original mask the two differ: lengths always exclude.
    soft = AstromerAttention(
        2, 8, mask_alpha=-0.5, temperature=1.5, attention_implementation=implementation
    )
    soft(x)
    soft.set_weights(layer.get_weights())
    assert np.abs(keras.ops.convert_to_numpy(soft(x, ignore_mask=suffix)) - expected).max() > 1e-3
    np.testing.assert_allclose(keras.ops.convert_to_numpy(soft(x, key_lengths=lengths)), expected, atol=1e-5)
    with pytest.raises(ValueError, match="either ignore_mask or key_lengths"):
        layer(x, ignore_mask=suffix, key_lengths=lengths)
