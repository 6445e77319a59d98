"""InferencePreprocessor: the windows of the code it replaced, bit for bit;
compat original against the original library's inputs; JD -> MJD once."""

import numpy as np
import pytest

from astromer.data.cleaning import CleaningReport
from astromer.data.lightcurves import LightCurve
from astromer.data.time_scale import JD_MINUS_MJD, shifted
from astromer.preprocessing import InferencePreprocessor
from tests.harness import check_config
from tests.preprocessing.conftest import digest

KEYS = ("times", "magnitudes", "errors", "padding_mask")
# sha256 of every window of 300 EROS_R light curves, computed with the code
# before the preprocessors (`sequential_windows` as the Embedder called it).
BEFORE = {"default": "81b80674beddf573", "original": "d50921c780ff8bd5"}


@pytest.mark.parametrize("compat", sorted(BEFORE))
def test_windows_on_eros_are_those_of_the_code_before(eros_r, compat):
    pre = InferencePreprocessor(compat=compat)
    parts = [pre.windows(lc) for lc in eros_r]
    assert digest([np.concatenate([p[k] for p in parts]) for k in KEYS]) == BEFORE[compat]


def test_compat_original_is_the_original_librarys_input(a1_oracle, raw_light_curves):
    inputs = InferencePreprocessor(compat="original")(list(raw_light_curves.values()))
    for key, oracle_key in (("magnitudes", "input"), ("times", "times"), ("padding_mask", "mask_in")):
        np.testing.assert_array_equal(inputs[key], a1_oracle[oracle_key][..., 0])
    np.testing.assert_array_equal(inputs["hidden_mask"], 0)


def test_default_centring_ignores_a_time_offset_and_original_does_not(eros_r):
    lc = eros_r[0]
    later = shifted(lc, -50_000.0)  # 50,000 days later
    default, original = InferencePreprocessor(), InferencePreprocessor(compat="original")
    np.testing.assert_array_equal(default([later])["times"], default([lc])["times"])
    assert not np.array_equal(original([later])["times"], original([lc])["times"])
    # by hand: default = float32(t - mean(t)); original = float32(t) minus
    # their mean accumulated in order in float32 (the original's reduce_mean)
    n = len(lc)
    t32 = lc.time.astype(np.float32)
    mean32 = np.cumsum(t32, dtype=np.float32)[-1] / np.float32(n)
    np.testing.assert_array_equal(original([lc])["times"][0, :n], t32 - mean32)
    np.testing.assert_allclose(default([lc])["times"][0, :n], lc.time - lc.time.mean(), atol=1e-4)


def test_julian_dates_move_to_mjd_once_under_float32_first(eros_r):
    lc = eros_r[1]
    jd = LightCurve(lc.id, lc.time + JD_MINUS_MJD, lc.mag, lc.err)
    pre = InferencePreprocessor(compat="original")
    report = CleaningReport()
    [read] = list(pre.read([jd], report))
    assert report.light_curves_jd_to_mjd == 1
    np.testing.assert_array_equal(pre.windows(read)["times"], pre.windows(lc)["times"])
    # the Embedder reads through it: one conversion per light curve, not two
    from astromer.core.embedder import Embedder
    from tests.harness import tiny_backbone

    embedder = Embedder(tiny_backbone(200), compat="original")
    embedder.embed_array([jd, lc])
    assert embedder.report.light_curves_jd_to_mjd == 1
    # float64 centring needs no conversion
    report = CleaningReport()
    list(InferencePreprocessor().read([jd], report))
    assert report.light_curves_jd_to_mjd == 0


def test_config_and_preset():
    from astromer.core.factory import resolve_config

    pre = check_config(InferencePreprocessor(window_size=32, input_names=("magnitudes", "times"), band="R",
                                             compat="original", time_offset=2.5))
    assert (pre.window_mode, pre.float32_first, pre.cleaning.max_error) == ("original", True, float("inf"))
    config = resolve_config("a2-mb", ["data.band=EROS_R", "model.band_names=[B, R]"])
    pre = InferencePreprocessor.from_preset(config)
    assert (pre.window_size, pre.band_names, pre.band, pre.compat) == (200, ["B", "R"], "EROS_R", "default")
    with pytest.raises(ValueError, match="Unknown compat 'auto'"):
        InferencePreprocessor(compat="auto")
