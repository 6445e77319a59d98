"""What the `Embedder`'s per-object calls accept: `embedder(time, mag)`,
`embedder.batch([(time, mag[, err]), ...])`, lists of `(L, 2 | 3)` arrays
or `LightCurve`s, turned into `(L, 3)` arrays and `LightCurve`s."""

import os

import numpy as np


def is_series(values):
    """A 1-D numeric array (times or magnitudes), not a table, a list of
    light curves or a list of ids."""
    if isinstance(values, (str, os.PathLike)):
        return False
    try:
        array = np.asarray(values)
    except ValueError:  # ragged: a list of light curves
        return False
    return array.ndim == 1 and np.issubdtype(array.dtype, np.number)


def as_array(item, needs_errors):
    """`(time, mag[, err])` or an `(L, 2 | 3)` array -> `(L, 3)` float64."""
    if isinstance(item, tuple):
        time, mag, *rest = item
        err = rest[0] if rest else None
    else:
        item = np.asarray(item, np.float64)
        time, mag, err = item[:, 0], item[:, 1], item[:, 2] if item.shape[1] > 2 else None
    time, mag = np.asarray(time, np.float64), np.asarray(mag, np.float64)
    if err is None:
        if needs_errors:
            raise ValueError("This model reads photometric errors: pass err (or (L, 3) arrays).")
        # Not read by the model; a value inside (0, 1) passes the error cleaning.
        err = np.full_like(mag, 0.5)
    return np.stack([time, mag, np.asarray(err, np.float64)], axis=1)


def as_light_curves(light_curves):
    from astromer.data.lightcurves import LightCurve, iter_light_curves

    items = list(light_curves)
    if items and not isinstance(items[0], LightCurve):
        return list(iter_light_curves(items))
    return items

