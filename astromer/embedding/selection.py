"""Which observations of a light-curve stream an `Embedder` reads: the
band a single-band model needs, the cleaning, and the errors and report
when a band is absent or nothing is left."""

import logging

from astromer.errors import DataError


def readable_light_curves(stream, backbone, band, cleaning, report):
    """Yields the cleaned light curves of `stream` in `band` (every band for
    a joint multi-band `backbone`), counting in `report`; at the end raises
    ValueError for a band the table lacks or a table with no usable light
    curve, and logs the cleaning summary."""
    from astromer.data.cleaning import clean_light_curve

    seen, read, kept = set(), 0, 0
    for lc in stream:
        read += 1
        seen.update(lc.band_names())
        cleaned = clean_light_curve(select_band(lc, backbone, band), cleaning, report)
        if cleaned is not None:
            kept += 1
            yield cleaned
    check_found(band, seen, read, kept, report)
    log_report(report)


def select_band(lc, backbone, band):
    """`lc` as `backbone` reads it: all bands (joint multi-band; unknown
    ones fail), or the observations of `band` (a light curve with several
    bands and no `band` fails with the band names)."""
    if getattr(backbone, "band_names", None):
        if lc.band is None:
            raise DataError(f"Light curve {lc.id!r} has no band column; this model reads bands {backbone.band_names}.")
        backbone.band_indices(lc.band)
        return lc
    if band is not None and lc.band is None:
        from astromer.data.lightcurves import no_band_column

        raise DataError(no_band_column([band], f"the table (light curve {lc.id!r})", "--band (band= in Python)"))
    return lc.single_band(band, "pass band=... (--band on the command line).")


def check_found(band, seen, read, kept, report):
    """An absent band or a table with no usable light curve is an error
    naming what is there, not an empty result."""
    if band is not None and seen and str(band) not in seen:
        raise DataError(f"Band {band!r} is not in the table; its bands are {sorted(seen)}: pass one of them (--band).")
    if read and not kept:
        raise DataError(f"None of the {read:,} light curves is usable after cleaning:\n{report.summary()}")


def log_report(report):
    """The cleaning summary on the `astromer.embedding` logger: a warning
    (shown by default) when rows or light curves were dropped, info
    otherwise; the counts stay in the report (`Embedder.report`)."""
    dropped = report.rows_in != report.rows_out or report.light_curves_in != report.light_curves_out
    logging.getLogger("astromer.embedding").log(logging.WARNING if dropped else logging.INFO,
                                                "Embedder cleaning (details in Embedder.report):\n%s", report.summary())
