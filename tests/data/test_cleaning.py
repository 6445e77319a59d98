import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curve, clean_light_curves
from astromer.data.lightcurves import LightCurve


def test_every_step_is_counted():
    time = np.array([3.0, 1.0, 2.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0])
    mag = np.array([10, 11, 12, 12.5, 13, np.inf, 14, 15, 16, 100.0])
    err = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0, 1.0, 0.1, 0.1])
    report = CleaningReport()
    lc = clean_light_curve(LightCurve("x", time, mag, err), CleaningConfig(min_observations=1), report)
    assert report.rows_nonfinite == 2  # NaN time, inf magnitude
    assert report.light_curves_unsorted == 1
    assert report.rows_duplicate_time == 1  # the second t=2 row
    assert report.rows_bad_error == 2  # err 0 and err 1 (paper: keep 0 < err < 1)
    np.testing.assert_array_equal(lc.time, [1.0, 2.0, 3.0, 7.0, 8.0])
    np.testing.assert_array_equal(lc.mag, [11, 12, 10, 16, 100])
    assert report.rows_out == 5 and report.rows_in == 10
    assert "dropped 2 rows with NaN/inf" in report.summary()


def test_percentile_clipping_and_filters():
    rng = np.random.default_rng(0)
    mag = rng.normal(15, 0.05, 200)
    mag[[3, 50]] = [30.0, -5.0]
    lc = LightCurve("y", np.arange(200.0), mag, np.full(200, 0.05))
    report = CleaningReport()
    out = clean_light_curve(lc, CleaningConfig(clip_percentiles=(1, 99)), report)
    assert report.rows_clipped == 4 and out.mag.max() < 30 and out.mag.min() > -5
    noisy = LightCurve("z", np.arange(200.0), rng.normal(15, 0.5, 200), np.full(200, 0.05))
    report = CleaningReport()
    assert clean_light_curve(noisy, CleaningConfig(max_std=0.1), report) is None
    assert report.filtered_ids == ["z"]


def test_too_short_reported_by_id():
    report = CleaningReport()
    lcs = [LightCurve(f"lc{i}", np.arange(n, dtype=float), np.ones(n), np.full(n, 0.1)) for i, n in enumerate((3, 10, 4))]
    kept = list(clean_light_curves(lcs, {"min_observations": 5}, report))
    assert [lc.id for lc in kept] == ["lc1"]
    assert report.too_short_ids == ["lc0", "lc2"]
    assert "below the minimum number of observations: ['lc0', 'lc2']" in report.summary()


def test_bad_setting_name():
    import pytest

    with pytest.raises(ValueError, match=r"Unknown cleaning setting\(s\) \['min_obs'\]"):
        CleaningConfig.from_dict({"min_obs": 3})


values = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.just(1.0), st.just(0.0))


@settings(max_examples=200, deadline=None)
@given(
    time=arrays(np.float64, st.integers(0, 40), elements=values),
    data=st.data(),
)
def test_never_crashes_and_output_is_clean(time, data):
    n = len(time)
    mag = data.draw(arrays(np.float64, n, elements=values))
    err = data.draw(arrays(np.float64, n, elements=st.one_of(values, st.floats(0.01, 0.5))))
    report = CleaningReport()
    out = clean_light_curve(LightCurve("h", time, mag, err), CleaningConfig(min_observations=0), report)
    assert out is not None
    assert np.all(np.isfinite(out.time)) and np.all(np.isfinite(out.mag))
    assert np.all(np.diff(out.time) > 0)  # sorted and unique
    assert np.all((out.err > 0) & (out.err < 1))
    assert np.all(np.abs(out.time) <= 1e7) and np.all(np.abs(out.mag) <= 1e6)
    dropped = (report.rows_nonfinite + report.rows_time_out_of_range + report.rows_mag_out_of_range
               + report.rows_err_out_of_range + report.rows_duplicate_time + report.rows_bad_error + report.rows_clipped)
    assert report.rows_out == n - dropped == len(out.time)
