"""Julian Dates under float32-first centring (issue 42): converted to MJD,
counted; other scales refused with the ways out."""

import numpy as np
import pytest

from astromer.data.cleaning import CleaningReport
from astromer.data.lightcurves import LightCurve
from astromer.data.time_scale import JD_MINUS_MJD, shifted, to_mjd
from astromer.data.windows import sequential_windows
from astromer.errors import DataError


def light_curve(time, oid="a"):
    time = np.asarray(time, np.float64)
    return LightCurve(oid, time, np.full(len(time), 15.0), np.full(len(time), 0.1))


def test_julian_dates_become_mjd_and_are_counted():
    report = CleaningReport()
    out = to_mjd(light_curve([2450000.5, 2450001.0, 2450003.25]), report)
    np.testing.assert_array_equal(out.time, [50000.0, 50000.5, 50002.75])  # MJD = JD - 2400000.5
    assert report.light_curves_jd_to_mjd == 1
    assert "converted the times of 1 light curves from JD to MJD" in report.summary()


@pytest.mark.parametrize("time", [[48000.0, 48100.0], [290.3, 1184.06], [-5.0, 3.0], [1_999_000.0]])
def test_mjd_like_times_are_left_alone(time):
    report = CleaningReport()
    lc = light_curve(time)
    assert to_mjd(lc, report) is lc and report.light_curves_jd_to_mjd == 0


@pytest.mark.parametrize("median", [5.0e6, -2.0e5])
def test_other_scales_are_refused_with_the_median_and_the_ways_out(median):
    with pytest.raises(DataError) as error:
        to_mjd(light_curve([median - 1, median, median + 1], oid="x7"))
    message = str(error.value)
    assert "'x7'" in message and f"{median:.6g}" in message
    assert "--time-offset" in message and "--compat default" in message and "\n" not in message


def test_the_conversion_gives_the_float32_windows_of_the_mjd_light_curve():
    # Why the conversion matters: float32-first windows of the same light
    # curve in JD and in MJD differ by up to a quarter day without it.
    rng = np.random.default_rng(0)
    mjd = light_curve(50000 + np.cumsum(rng.exponential(1.3, 300)))
    jd = shifted(mjd, -JD_MINUS_MJD)
    raw = [sequential_windows(lc.as_array(), mode="original", float32_first=True)["times"] for lc in (mjd, jd)]
    assert np.abs(raw[0] - raw[1]).max() > 0.05
    converted = sequential_windows(to_mjd(jd).as_array(), mode="original", float32_first=True)["times"]
    np.testing.assert_array_equal(converted, raw[0])
