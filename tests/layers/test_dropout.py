import keras
import numpy as np
import pytest

from astromer.layers.dropout import HashDropout, hash32
from tests.conftest import to_numpy
from tests.harness import run_layer_test


def test_identity_at_inference_and_rate_zero():
    x = np.random.default_rng(0).normal(size=(4, 50, 8)).astype("float32")
    np.testing.assert_array_equal(to_numpy(HashDropout(0.3)(x)), x)
    np.testing.assert_array_equal(to_numpy(HashDropout(0.0)(x, training=True)), x)


def test_keep_fraction_scale_and_fresh_masks():
    layer = HashDropout(0.25, seed=1)
    x = np.ones((64, 200, 32), "float32")
    a = to_numpy(layer(x, training=True))
    b = to_numpy(layer(x, training=True))
    kept = a > 0
    assert abs(kept.mean() - 0.75) < 0.005  # 409,600 draws: sd 0.0007
    np.testing.assert_allclose(a[kept], 1 / 0.75, rtol=1e-6)
    assert abs(a.mean() - 1.0) < 0.01  # inverted dropout keeps the mean
    assert 0.55 < ((a > 0) == (b > 0)).mean() < 0.7  # a new mask each call (independent: 0.625)
    # no structure along any axis: every position is kept about 3/4 of the time
    assert np.abs(kept.mean(axis=(0, 2)) - 0.75).max() < 0.05  # 2,048 draws each: sd 0.01
    assert np.abs(kept.mean(axis=(0, 1)) - 0.75).max() < 0.02


def test_bad_rate_and_config():
    with pytest.raises(ValueError, match="rate"):
        HashDropout(1.0)
    run_layer_test(HashDropout(0.1, seed=3, name="d"))


def test_mixed_precision_dtype():
    x = keras.ops.ones((2, 10, 4), dtype="bfloat16")
    out = HashDropout(0.5, dtype="mixed_bfloat16")(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"


def test_hash32_matches_a_numpy_lowbias32():
    # The hash must wrap at 32 bits on every backend (Keras' PyTorch
    # backend stores "uint32" as int64: without the explicit cut the bits
    # were huge and dropout kept everything there).
    def reference(v):
        v = v.astype(np.uint64)
        v ^= v >> 16
        v = (v * 0x7FEB352D) & 0xFFFFFFFF
        v ^= v >> 15
        v = (v * 0x846CA68B) & 0xFFFFFFFF
        return v ^ (v >> 16)

    values = np.array([0, 1, 2, 3, 4, 12345, 2**31 - 1, 2**32 - 1], dtype=np.uint64)
    expected = reference(values)
    assert list(expected[:5]) == [0, 1753845952, 3507691905, 1408362973, 3648937681]
    got = to_numpy(hash32(keras.ops.convert_to_tensor(values.astype(np.uint32), dtype="uint32")))
    np.testing.assert_array_equal(got.astype(np.uint64), expected)


def _lowbias32(v):
    v = np.asarray(v, dtype=np.uint64)
    v = v ^ (v >> 16)
    v = (v * 0x7FEB352D) & 0xFFFFFFFF
    v = v ^ (v >> 15)
    v = (v * 0x846CA68B) & 0xFFFFFFFF
    return v ^ (v >> 16)


def test_masks_are_the_documented_hash_on_every_backend():
    # Call k of a layer seeded s keeps element i where
    # h(i ^ h(h(s) ^ k)) >= rate * 2^32: the same masks on every backend.
    rate, seed = 0.3, 12345
    layer = HashDropout(rate, seed=seed)
    x = np.ones((3, 7, 5), "float32")
    index = np.arange(x.size, dtype=np.uint64).reshape(x.shape)
    for counter in range(3):
        salt = _lowbias32(_lowbias32(seed) ^ np.uint64(counter))
        keep = _lowbias32(index ^ salt) >= int(rate * 2**32)
        got = to_numpy(layer(x, training=True))
        np.testing.assert_array_equal(got > 0, keep)
