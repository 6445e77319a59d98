"""The one band selector and the one reading path."""

import numpy as np
import pytest

from astromer.data.cleaning import CleaningConfig, CleaningReport
from astromer.data.lightcurves import LightCurve
from astromer.errors import DataError
from astromer.preprocessing.reading import band_indices, read_light_curves, select_band

BANDS = np.array(["B", "R", "B", "R", "R"])


def two_bands(oid="x"):
    return LightCurve(oid, np.arange(5.0), np.arange(5.0) + 10, np.full(5, 0.1), band=BANDS)


def test_select_band():
    lc = two_bands()
    np.testing.assert_array_equal(select_band(lc, band="R").time, [1, 3, 4])
    assert select_band(lc, band_names=["B", "R"]) is lc and select_band(lc, band_names="auto") is lc
    assert select_band(lc, how_to_choose=None) is lc  # every band as one sequence (raw baselines)
    with pytest.raises(DataError, match=r"has bands \['B', 'R'\]; .* pass band="):
        select_band(lc)
    with pytest.raises(ValueError, match=r"Band\(s\) \['R'\] were not seen in training"):
        select_band(lc, band_names=["B"])
    plain = LightCurve("y", np.arange(3.0), np.zeros(3), np.full(3, 0.1))
    with pytest.raises(DataError, match=r"has no band column .*: leave out --set data.band"):
        select_band(plain, band="R", option="--set data.band")
    with pytest.raises(DataError, match="has no band column; this model reads bands"):
        select_band(plain, band_names=["B", "R"])
    np.testing.assert_array_equal(band_indices(BANDS, ["B", "R"]), [0, 1, 0, 1, 1])


def test_read_counts_cleans_and_checks():
    report = CleaningReport()
    bad = two_bands("bad")
    bad.err[1] = 3.0
    out = list(read_light_curves([two_bands(), bad], report, band="R", cleaning=CleaningConfig(min_observations=3)))
    assert [lc.id for lc in out] == ["x"] and report.rows_bad_error == 1
    with pytest.raises(DataError, match=r"Band 'V' is not in the table; its bands are \['B', 'R'\]"):
        list(read_light_curves([two_bands()], CleaningReport(), band="V", cleaning=CleaningConfig()))
    with pytest.raises(DataError, match="None of the 1 light curves is usable"):
        list(read_light_curves([two_bands()], CleaningReport(), band="R", cleaning=CleaningConfig(min_observations=9)))
