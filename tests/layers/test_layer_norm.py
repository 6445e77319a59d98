import keras
import numpy as np
import pytest

from astromer.layers.layer_norm import LayerNorm
from tests.conftest import to_numpy


def _pair(dtype="float32", **kwargs):
    ours, theirs = LayerNorm(dtype=dtype, **kwargs), keras.layers.LayerNormalization(dtype=dtype, **kwargs)
    for layer in (ours, theirs):
        layer.build((None, 7, 16))
    rng = np.random.default_rng(0)
    for name in ("gamma", "beta"):
        if getattr(ours, name, None) is not None:
            shape = tuple(getattr(ours, name).shape)
            value = rng.normal(1.0 if name == "gamma" else 0.0, 0.3, shape).astype("float32")
            getattr(ours, name).assign(value)
            getattr(theirs, name).assign(value)
    return ours, theirs


def _hand(x, gamma, beta, epsilon):
    x = x.astype("float64")
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + epsilon) * gamma + beta


def test_inference_form_is_layer_normalization():
    ours, theirs = _pair(epsilon=1e-6)
    # An offset far above the spread: a one-pass variance would lose digits here.
    x = (np.random.default_rng(1).normal(0, 1, (3, 7, 16)) + 50.0).astype("float32")
    expected = _hand(x, to_numpy(ours.gamma), to_numpy(ours.beta), 1e-6)
    out = to_numpy(ours(x))
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-5)
    np.testing.assert_allclose(out, to_numpy(theirs(x)), rtol=0, atol=2e-5)


def test_training_is_keras_layer_exactly():
    ours, theirs = _pair(epsilon=1e-3)
    x = np.random.default_rng(2).normal(0, 2, (3, 7, 16)).astype("float32")
    np.testing.assert_array_equal(to_numpy(ours(x, training=True)), to_numpy(theirs(x, training=True)))


def test_mixed_precision_statistics_in_float32():
    ours, theirs = _pair("mixed_bfloat16", epsilon=1e-6)
    x = np.random.default_rng(3).normal(3, 1, (3, 7, 16)).astype("float32")
    out = ours(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    # Keras does not cast a normalization layer's inputs to bfloat16.
    expected = _hand(x, to_numpy(ours.gamma), to_numpy(ours.beta), 1e-6)
    # bfloat16 output: 8 bits of mantissa.
    np.testing.assert_allclose(to_numpy(keras.ops.cast(out, "float32")), expected, rtol=1e-2, atol=1e-2)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize("kwargs", [{"rms_scaling": True}, {"center": False}, {"axis": 1}])
def test_other_configurations_are_keras_layer(kwargs):
    if "axis" in kwargs and keras.backend.backend() == "torch":
        pytest.skip("Keras' own layer hands a non-last axis to torch's layer_norm, which refuses it.")
    ours, theirs = _pair(**kwargs)
    x = np.random.default_rng(4).normal(0, 1, (3, 7, 16)).astype("float32")
    np.testing.assert_array_equal(to_numpy(ours(x)), to_numpy(theirs(x)))


def test_config_round_trip():
    layer = LayerNorm(epsilon=1e-6, name="norm")
    clone = LayerNorm.from_config(layer.get_config())
    assert clone.epsilon == 1e-6 and clone.name == "norm" and isinstance(clone, keras.layers.LayerNormalization)
