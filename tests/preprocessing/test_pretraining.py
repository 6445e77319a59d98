"""PretrainingPreprocessor: the batches of the code it replaced, bit for bit,
and what a preset and a config give."""

import numpy as np
import pytest

from astromer.data.datasets import NumpyWindowDataset, PackedLightCurves
from astromer.preprocessing import PretrainingPreprocessor
from tests.harness import check_config
from tests.preprocessing.conftest import digest

INPUTS = ("magnitudes", "times", "errors", "padding_mask", "hidden_mask")

# sha256 of the first 3 batches of 64 (epoch 1, seed 3, original inference
# windows) of 300 EROS_R light curves, computed with the code before the
# preprocessors (PipelineConfig + finish_batch). Float64 centring: the masks
# (its float values depend on the CPU's summation); float32-first centring:
# every input and target.
BEFORE = {
    (False, "pretrain"): "64898a679f7dfd54", (False, "eval"): "6f4590a0f238a5dd",
    (False, "inference"): "6be1d0ea29fed8aa", (True, "pretrain"): "e0c2037558fddea3",
    (True, "eval"): "ebe2c4f6962919e8", (True, "inference"): "19e6f247257e9db8",
}


@pytest.mark.parametrize("float32_first,mode", sorted(BEFORE))
def test_batches_on_eros_are_those_of_the_code_before(eros_r, float32_first, mode):
    pre = PretrainingPreprocessor(input_names=INPUTS, seed=3, window_mode="original", float32_first=float32_first)
    data = NumpyWindowDataset(PackedLightCurves.from_light_curves(eros_r), pre, 64, mode=mode, initial_epoch=1)
    batches = [data[i] for i in range(3)]
    names = INPUTS if float32_first else ("padding_mask", "hidden_mask")
    targets = ("magnitudes", "probe_mask", "loss_weight") if float32_first else ("probe_mask",)
    assert digest([x[k] for x, _ in batches for k in names] + [y[k] for _, y in batches for k in targets]) == \
        BEFORE[(float32_first, mode)]


def test_one_window_by_hand():
    # 6 observations in a window of 8: times and targets centred in float64
    # on the real steps; paper masking of 6 steps: 3 probed, all hidden (0 in
    # the input; floor(0.1 x 6) = 0 random, 0 same); weights 1/err min-max
    # scaled + 1e-3.
    t = np.array([50000.0, 50001.0, 50003.0, 50004.5, 50007.0, 50010.0])
    mag = np.array([15.0, 15.5, 14.5, 15.2, 14.8, 15.0])
    err = np.array([0.1, 0.2, 0.05, 0.1, 0.1, 0.4])
    pad = lambda v: np.concatenate([v, [0.0, 0.0]])[None]  # noqa: E731
    windows = {"time": pad(t), "mag": pad(mag), "err": pad(err),
               "padding": np.array([[0, 0, 0, 0, 0, 0, 1, 1]], np.float32)}
    x, y = PretrainingPreprocessor(window_size=8, input_names=INPUTS)(windows, np.array([7]), epoch=2)
    np.testing.assert_array_equal(x["times"][0, :6], (t - t.mean()).astype(np.float32))
    np.testing.assert_array_equal(y["magnitudes"][0, :6], (mag - mag.mean()).astype(np.float32))
    assert y["probe_mask"].sum() == 3 and y["probe_mask"][0, 6:].sum() == 0
    np.testing.assert_array_equal(x["hidden_mask"], y["probe_mask"])
    assert np.all(x["magnitudes"][0][x["hidden_mask"][0] > 0] == 0)
    inverse = 1 / err
    np.testing.assert_allclose(y["loss_weight"][0, :6], (inverse - inverse.min()) / np.ptp(inverse) + 1e-3, rtol=1e-6)
    # inference: nothing hidden, the probe on every real step
    x, y = PretrainingPreprocessor(window_size=8, input_names=INPUTS)(windows, mode="inference")
    np.testing.assert_array_equal(y["probe_mask"][0], [1, 1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(x["magnitudes"], y["magnitudes"])


def test_preset_and_config():
    from astromer.core.factory import resolve_config

    config = resolve_config("a1-original", ["pretraining.seed=4", "data.probed_fraction=0.4"])
    pre = PretrainingPreprocessor.from_preset(config)
    assert (pre.window_size, pre.seed, pre.float32_first, pre.band_names) == (200, 4, False, None)
    assert pre.masking["masking"] == "original" and pre.masking["probed_fraction"] == 0.4
    config["data"]["compat"] = "original"  # astromer-finetune of converted weights
    assert PretrainingPreprocessor.from_preset(config).float32_first
    clone = check_config(PretrainingPreprocessor(window_size=16, input_names=INPUTS, masking={"masking": "original"},
                                                 seed=5, window_mode="original", float32_first=True))
    windows = {"time": np.arange(16.0)[None] + 5e4, "mag": np.sin(np.arange(16.0))[None],
               "err": np.full((1, 16), 0.1), "padding": np.zeros((1, 16), np.float32)}
    x1, y1 = clone(windows, np.array([3]), epoch=1)
    x2, y2 = PretrainingPreprocessor(**clone.get_config())(windows, np.array([3]), epoch=1)
    assert digest(list(x1.values()) + list(y1.values())) == digest(list(x2.values()) + list(y2.values()))


def test_band_names_auto_are_the_datas():
    pre = PretrainingPreprocessor(band_names="auto")
    assert pre.num_bands == 0 and pre.resolve_band_names(["g", "r"]) == ["g", "r"] and pre.num_bands == 2
    with pytest.raises(ValueError, match="auto needs a band column"):
        PretrainingPreprocessor(band_names="auto").resolve_band_names([])
    with pytest.raises(ValueError, match="no multi-band form"):
        PretrainingPreprocessor(band_names=["g", "r"], float32_first=True)
