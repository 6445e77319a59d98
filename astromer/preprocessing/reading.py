"""Which observations of a light curve a model reads: the one band selector,
the cleaning, and times that float32-first centring can use (Julian Dates
moved to MJD: `astromer.data.time_scale`). Every task reads light curves
through `select_band` and `read_light_curves`."""

import logging

import numpy as np

from astromer.data.cleaning import clean_light_curve
from astromer.data.lightcurves import no_band_column
from astromer.data.time_scale import to_mjd
from astromer.errors import DataError

BAND_OPTION = "--band (band= in Python)"
HOW_TO_CHOOSE = "pass band=... (--band on the command line)."
TIME_FIX = "pass --time-offset DAYS (subtracted from every time), or --compat default"


def select_band(lc, band_names=None, band=None, option=BAND_OPTION, how_to_choose=HOW_TO_CHOOSE):
    """`lc` as a model reads it: every observation for a joint multi-band
    model (`band_names`, or "auto" before the data decides them; a band
    outside them fails), those of `band` for a single-band one, or, with no
    band chosen, the light curve as it is when it has one band (several
    fail, saying `how_to_choose`; `how_to_choose` None reads every band's
    rows as one sequence, as the raw-sequence baselines do). A band asked
    of a light curve without a band column fails, naming `option`."""
    if band_names:
        if lc.band is None:
            raise DataError(f"Light curve {lc.id!r} has no band column; this model reads bands {band_names}.")
        if band_names != "auto":
            band_indices(lc.band, band_names)
        return lc
    if band is not None and lc.band is None:
        raise DataError(no_band_column([band], f"the table (light curve {lc.id!r})", option))
    if band is None and how_to_choose is None:
        return lc
    return lc.single_band(band, how_to_choose)


def band_indices(values, band_names):
    """Per-observation band names -> float32 indices in `band_names`; a band
    the model was not trained on fails with its name."""
    lookup = {name: i for i, name in enumerate(band_names)}
    values = np.asarray(values).astype(str)
    unknown = sorted(str(v) for v in set(values) - set(lookup))
    if unknown:
        raise ValueError(f"Band(s) {unknown} were not seen in training; this model knows bands {list(band_names)}.")
    return np.array([lookup[v] for v in values], dtype=np.float32)


def read_light_curves(stream, report, band_names=None, band=None, cleaning=None, float32_first=False,
                      checks=True, messages=None):
    """Yields the light curves of `stream` as a model reads them: its band
    (`select_band`), cleaned (`cleaning`, a `CleaningConfig`; None: not
    cleaned) and, under float32-first centring, with Julian Dates moved to
    MJD (the one place this happens), all counted in `report`. `messages`
    (`option`, `how_to_choose`, `how_to_fix`) name the settings that fix a
    band or a time scale, as the caller spells them.

    With `checks`, at the end: a band the stream lacks or a stream with no
    usable light curve is a `DataError` naming what is there, not an empty
    result; the cleaning summary is logged (`astromer.embedding`: a warning
    when anything was dropped)."""
    messages = {"option": BAND_OPTION, "how_to_choose": HOW_TO_CHOOSE, "how_to_fix": TIME_FIX, **(messages or {})}
    seen, read, kept = set(), 0, 0
    for lc in stream:
        read += 1
        seen.update(lc.band_names())
        lc = select_band(lc, band_names, band, messages["option"], messages["how_to_choose"])
        if cleaning is not None:
            lc = clean_light_curve(lc, cleaning, report)
        if lc is None:
            continue
        kept += 1
        yield to_mjd(lc, report, messages["how_to_fix"]) if float32_first else lc
    if not checks:
        return
    if band is not None and seen and str(band) not in seen:
        raise DataError(f"Band {band!r} is not in the table; its bands are {sorted(seen)}: pass one of them (--band).")
    if read and not kept:
        raise DataError(f"None of the {read:,} light curves is usable after cleaning:\n{report.summary()}")
    dropped = report.rows_in != report.rows_out or report.light_curves_in != report.light_curves_out
    logging.getLogger("astromer.embedding").log(logging.WARNING if dropped else logging.INFO,
                                                "Embedder cleaning (details in Embedder.report):\n%s", report.summary())
