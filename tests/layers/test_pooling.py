import keras
import numpy as np
import pytest

from astromer.layers.pooling import LayerMix, MaskedMaxPooling, MaskedMeanPooling
from tests.conftest import to_numpy
from tests.harness import run_layer_test

# Two windows of 4 steps, 2 features. Window 0 has 3 real steps; window 1
# is all padding. Padded rows hold large values that must never show up.
X = np.array(
    [
        [[1.0, -2.0], [3.0, -4.0], [8.0, -9.0], [100.0, 100.0]],
        [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0], [11.0, 12.0]],
    ],
    "float32",
)
PAD = np.array([[0, 0, 0, 1], [1, 1, 1, 1]], "float32")


def test_masked_mean_hand_computed():
    out = to_numpy(MaskedMeanPooling()(X, PAD))
    # Window 0: ((1+3+8)/3, (-2-4-9)/3); window 1 (all padding): zeros.
    np.testing.assert_allclose(out, [[4.0, -5.0], [0.0, 0.0]], rtol=0, atol=1e-6)


def test_masked_mean_ignores_nan_on_padding_and_accepts_bool_masks():
    x = X.copy()
    x[0, 3] = np.nan
    x[1] = np.inf
    out = to_numpy(MaskedMeanPooling()(x, PAD.astype(bool)))
    np.testing.assert_allclose(out, [[4.0, -5.0], [0.0, 0.0]], atol=1e-6)


def test_masked_mean_without_mask_is_the_plain_mean():
    out = to_numpy(MaskedMeanPooling()(X))
    np.testing.assert_allclose(out, X.mean(axis=1), atol=1e-5)


def test_masked_max_hand_computed():
    # Window 0's real values in feature 1 are all negative: the padded 100
    # (and a padded 0) must not win.
    pad = np.array([[0, 0, 0, 1], [0, 1, 1, 0]], "float32")
    out = to_numpy(MaskedMaxPooling()(X, pad))
    np.testing.assert_allclose(out, [[8.0, -2.0], [11.0, 12.0]], atol=0)
    out = to_numpy(MaskedMaxPooling()(X, PAD))
    np.testing.assert_allclose(out, [[8.0, -2.0], [0.0, 0.0]], atol=0)


def test_pooling_in_a_functional_model_and_mixed_precision():
    x = keras.Input((4, 2))
    mask = keras.Input((4,))
    out = MaskedMeanPooling(dtype="mixed_bfloat16")(x, mask)
    assert tuple(out.shape) == (None, 2)
    model = keras.Model([x, mask], [out, MaskedMaxPooling()(x, mask)])
    mean, maximum = model.predict_on_batch([X, PAD])
    np.testing.assert_allclose(to_numpy(mean, "float32"), [[4.0, -5.0], [0.0, 0.0]], atol=0.05)
    np.testing.assert_allclose(maximum, [[8.0, -2.0], [0.0, 0.0]])


def test_layer_mix_starts_uniform():
    xs = [np.full((2, 3, 4), v, "float32") for v in (1.0, 2.0, 6.0)]
    mix = LayerMix()
    out = to_numpy(mix(xs))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mix.normalized_weights()), [1 / 3] * 3, atol=1e-7)
    np.testing.assert_allclose(out, np.full((2, 3, 4), 3.0), atol=1e-6)


def test_layer_mix_with_set_weights_matches_hand_softmax():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, 3, 4)).astype("float32") for _ in range(3)]
    mix = LayerMix()
    mix(xs)
    # softmax(log([1, 2, 5])) = [1/8, 2/8, 5/8].
    mix.set_weights([np.log(np.array([1.0, 2.0, 5.0], "float32"))])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mix.normalized_weights()), [0.125, 0.25, 0.625], atol=1e-6)
    expected = 0.125 * xs[0] + 0.25 * xs[1] + 0.625 * xs[2]
    np.testing.assert_allclose(to_numpy(mix(xs)), expected, atol=1e-6)
    # A second, non-log example: gamma = [0, 1, -1].
    mix.set_weights([np.array([0.0, 1.0, -1.0], "float32")])
    e = np.exp([0.0, 1.0, -1.0])
    w = e / e.sum()
    np.testing.assert_allclose(to_numpy(mix(xs)), w[0] * xs[0] + w[1] * xs[1] + w[2] * xs[2], atol=1e-6)


def test_layer_mix_round_trips_and_checks_inputs():
    xs = [np.ones((1, 2, 3), "float32")] * 2
    mix = LayerMix(name="layer_mix")
    run_layer_test(mix, xs)  # (builds it for 2 inputs)
    with pytest.raises(ValueError, match=r"one shape; got shapes \[\(1, 2, 3\), \(1, 2, 4\)\]"):
        LayerMix()([np.ones((1, 2, 3), "float32"), np.ones((1, 2, 4), "float32")])
    with pytest.raises(ValueError, match="built for 2 inputs, got 3"):
        mix(xs + xs[:1])


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_per_band_pooling_hand_computed(pooling):
    from astromer.layers.pooling import PerBandPooling

    x = np.array([[[1., 10.], [2., 20.], [3., 30.], [4., 40.], [9., 90.]]], "float32")
    bands = np.array([[0, 1, 0, 1, 1]])
    padding = np.array([[0, 0, 0, 0, 1]], "float32")   # the last step (band 1) is padding
    out = to_numpy(PerBandPooling(3, pooling)(x, padding, bands))
    # band 0: steps 0 and 2; band 1: steps 1 and 3 (not the padded 4); band 2: none -> zeros
    expected = {"mean": [2., 20., 3., 30., 0., 0.], "max": [3., 30., 4., 40., 0., 0.]}[pooling]
    np.testing.assert_allclose(out, [expected])
    layer = PerBandPooling.from_config(PerBandPooling(3, pooling).get_config())
    assert (layer.num_bands, layer.pooling) == (3, pooling)
    with pytest.raises(ValueError, match="pooling 'mean' or 'max', got num_bands=2, pooling='sum'"):
        PerBandPooling(2, "sum")
