"""ClassificationPreprocessor: full evaluation windows, one random training
window per object and epoch, labels and class weights."""

import numpy as np
import pytest

from astromer.data.lightcurves import LightCurve
from astromer.preprocessing import ClassificationPreprocessor
from tests.harness import check_config


def curve(oid, n, seed=0, band=None):
    rng = np.random.default_rng(seed)
    return LightCurve(oid, np.sort(rng.uniform(0, 900, n)), rng.normal(15, 0.3, n), np.full(n, 0.05), band=band)


def test_windows_labels_and_weights():
    pre = check_config(ClassificationPreprocessor(window_size=50, input_names=("magnitudes", "times", "padding_mask"),
                                                  seed=3))
    lcs = {"a": curve("a", 120), "b": curve("b", 30, seed=1)}
    arrays = pre.arrays(lcs, ["a", "b", "a"])
    assert list(arrays) == ["a", "b"]
    # 120 rows: two full windows and the last right-aligned (rows 70..119)
    w = pre.windows(arrays["a"])
    np.testing.assert_array_equal((1 - w["padding_mask"]).sum(1), [50, 50, 50])
    np.testing.assert_allclose(w["times"][2] + lcs["a"].time[70:].mean(), lcs["a"].time[70:], atol=1e-4)
    x, y, weight = pre.labelled(arrays, ["a", "b"], {"a": 1, "b": 0}, class_weights=[0.25, 4.0])
    np.testing.assert_array_equal(y, [1, 1, 1, 0]) and np.testing.assert_array_equal(weight, [4, 4, 4, 0.25])
    assert sorted(x) == ["magnitudes", "padding_mask", "times"]


def test_one_random_window_per_object_and_epoch():
    pre = ClassificationPreprocessor(window_size=50, seed=3)
    lcs = {"a": curve("a", 120), "b": curve("b", 30, seed=1)}
    data = pre.dataset(pre.arrays(lcs, ["a", "b"]), ["a", "b"], np.array([1, 0]), np.array([0.5, 2.0]), 8)
    assert not data.fixed()
    firsts = set()
    for _ in range(6):
        x, y, weight = data[0]
        np.testing.assert_array_equal(weight, np.where(y == 1, 2.0, 0.5))
        row = int(np.flatnonzero(y == 1)[0])
        firsts.add(float(x["times"][row][0] - x["times"][row][1]))  # which cut of "a"
        assert (1 - x["padding_mask"]).sum(1).tolist() == [50 if label else 30 for label in y]
        data.on_epoch_end()
    assert len(firsts) > 1


def test_bands():
    bands = np.array(["B", "R"] * 20)
    lcs = {"x": curve("x", 40, band=bands)}
    with pytest.raises(ValueError, match=r"has bands \['B', 'R'\]"):
        ClassificationPreprocessor(window_size=50).arrays(lcs, ["x"])
    array, indices = ClassificationPreprocessor(window_size=50, band="R").arrays(lcs, ["x"])["x"]
    assert len(array) == 20 and indices is None
    array, indices = ClassificationPreprocessor(window_size=50, band_names=["B", "R"]).arrays(lcs, ["x"])["x"]
    np.testing.assert_array_equal(indices, np.tile([0, 1], 20))
    assert len(ClassificationPreprocessor(window_size=50, all_bands=True).arrays(lcs, ["x"])["x"][0]) == 40
