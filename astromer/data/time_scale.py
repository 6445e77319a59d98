"""Times on the scale the original float32 centring was trained on (MJD).

With float64 centring (the default) a window's mean time is subtracted
before the float32 cast, so any constant offset of the times cancels: MJD,
JD or seconds-since-anything give the same windows. The original code
bases cast the raw times to float32 *first* (`float32_first`, compatibility
mode, which the published weights need): the float32 spacing is then that
of the raw values, 0.004 day near MJD 50,000 but 0.25 day near JD
2,450,000. A JD table fed to the published Astromer 1 weights therefore
gives times rounded to a quarter day, and embeddings that move by about
the distance between two different stars (0.69 on EROS, issue 42).

What `to_mjd` does, per light curve, on its median time:

- between 2,000,000 and 3,000,000 days (a Julian Date from the year 763 to
  3501: JD, HJD, BJD): converted to MJD (`time - 2400000.5`, the
  definition of MJD), counted in the cleaning report. The published
  weights were trained on MACHO MJDs, so this is the scale they expect;
  converting (rather than refusing) gives the embedding the original
  library gives the same light curve in MJD.
- other medians outside [-100,000, 2,000,000]: not days since a common
  epoch the library can guess. A `DataError` names the median and the two
  ways out: an explicit time offset, or float64 centring.
- anything else is left as it is (already MJD-like: MJD, truncated or
  reduced JD, days since a survey start).
"""

import numpy as np

from astromer.errors import DataError

JD_MINUS_MJD = 2400000.5
JD_RANGE = (2.0e6, 3.0e6)
MJD_LIKE_RANGE = (-1.0e5, 2.0e6)


def to_mjd(lc, report=None, how_to_fix="pass --time-offset DAYS (subtracted from every time), or --compat default"):
    """`lc` with MJD-like times for float32-first centring (see the module
    docstring); JD conversions counted in `report.light_curves_jd_to_mjd`."""
    if len(lc.time) == 0:
        return lc
    median = float(np.median(lc.time))
    if JD_RANGE[0] < median < JD_RANGE[1]:
        if report is not None:
            report.light_curves_jd_to_mjd += 1
        return shifted(lc, JD_MINUS_MJD)
    if not MJD_LIKE_RANGE[0] <= median <= MJD_LIKE_RANGE[1]:
        raise DataError(
            f"light curve {lc.id!r}: column time has median {median:.6g} days, neither MJD-like "
            f"({MJD_LIKE_RANGE[0]:g} to {MJD_LIKE_RANGE[1]:g}) nor a Julian Date; compat original centres "
            f"windows in float32, which depends on the time scale: {how_to_fix} (float64 centring, any offset)."
        )
    return lc


def shifted(lc, offset):
    """`lc` with `offset` days subtracted from every time (float64)."""
    if not offset:
        return lc
    from dataclasses import replace

    return replace(lc, time=np.asarray(lc.time, np.float64) - float(offset))
