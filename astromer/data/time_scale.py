"""Times on the scale the original float32 centring was trained on (MJD).

Float64 centring makes any time offset cancel. The original code bases cast
raw times to float32 first (`float32_first`, which the published weights
need): the float32 step is 0.004 day near MJD 50,000 but 0.25 day near
JD 2,450,000 (embeddings move by up to 0.69 on EROS). `to_mjd` moves Julian
Dates to MJD, leaves MJD-like times alone and refuses other scales, naming
the ways out (the cases: docs/robustness.md, "Times").
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
