import numpy as np
import pytest

from astromer.data.windows import sequential_windows, window_starts


def test_original_window_starts_for_every_oracle_length(pipeline_oracle):
    for length, starts in zip(pipeline_oracle["getwindows_lengths"], pipeline_oracle["getwindows_starts"]):
        expected = [s for s in starts if s >= 0]
        assert list(window_starts(length, 200, "original")) == expected, length


def test_nonoverlapping_windows_cover_each_observation_once():
    for length in (1, 5, 199, 200, 201, 400, 722):
        starts = window_starts(length, 200)
        covered = np.concatenate([np.arange(s, min(s + 200, length)) for s in starts])
        np.testing.assert_array_equal(covered, np.arange(length))


def test_a1_inputs_reproduced_bit_for_bit(a1_oracle, raw_light_curves):
    windows = [sequential_windows(lc, mode="original", float32_first=True) for lc in raw_light_curves.values()]
    for key, oracle_key in (("magnitudes", "input"), ("times", "times"), ("padding_mask", "mask_in")):
        ours = np.concatenate([w[key] for w in windows])
        np.testing.assert_array_equal(ours, a1_oracle[oracle_key][..., 0])
    lengths = np.concatenate([w["lengths"] for w in windows])
    np.testing.assert_array_equal(lengths, a1_oracle["window_length"])


def test_float64_centring_keeps_sub_second_times():
    # MJD 55,000 in float32 has a 4 ms ... 7.8 ms step: float32-first
    # centring loses the 1 ms offsets, float64 centring keeps them.
    t = 55000.0 + np.arange(5) * 1e-3 / 86400 * 1000  # 1 s apart
    lc = np.stack([t, np.zeros(5), np.ones(5) * 0.1], 1)
    precise = sequential_windows(lc, window_size=5)["times"][0]
    np.testing.assert_allclose(np.diff(precise), 1 / 86400, rtol=1e-4)
    rough = sequential_windows(lc, window_size=5, float32_first=True)["times"][0]
    assert not np.allclose(np.diff(rough), 1 / 86400, rtol=1e-2)


def test_padding_and_means():
    lc = np.array([[10.0, 1.0, 0.1], [12.0, 3.0, 0.3]])
    w = sequential_windows(lc, window_size=4)
    np.testing.assert_allclose(w["times"][0], [-1, 1, 0, 0])
    np.testing.assert_allclose(w["magnitudes"][0], [-1, 1, 0, 0])
    np.testing.assert_array_equal(w["padding_mask"][0], [0, 0, 1, 1])
    np.testing.assert_allclose(w["errors"][0], [0.1, 0.3, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(w["means"][0], [11.0, 2.0])
    empty = sequential_windows(np.zeros((0, 3)), window_size=4)  # one window, all padding
    assert empty["times"].shape == (1, 4) and np.all(empty["means"] == 0) and np.all(empty["times"] == 0)


def test_bad_light_curve_shape_and_mode():
    with pytest.raises(ValueError, match=r"\(L, 3\) array .* got shape \(4,\)"):
        sequential_windows(np.zeros(4))
    with pytest.raises(ValueError, match="Unknown window mode 'overlap'"):
        window_starts(10, 4, "overlap")
