"""Cutting light curves into fixed-length, centred, padded windows.

A window holds up to `window_size` consecutive observations. Times and
magnitudes are centred on the window's mean over its real observations
(errors are kept as they are: they are scales, and AstroCo reads them);
shorter windows are zero-padded and `padding_mask` is 1 on the padded steps.

Centring precision:

- default: means and differences in float64, then a float32 cast. An MJD
  near 50,000 has a float32 step of about 5 minutes; centring first keeps
  the sub-second timing of each observation.
- `float32_first=True`: the original order (cast the raw light curve to
  float32, then subtract a float32 mean). Bit-for-bit what both original
  code bases fed to the published models.

Inference windowing strategies (`sequential_windows`, `mode=`):

- "nonoverlapping" (default): consecutive windows, every observation once;
  the last window may be shorter.
- "original": `floor(L / W) + 1` windows, the last one right-aligned on the
  last observation, so it overlaps the previous one and is an exact
  duplicate when `L % W == 0` (both original code bases).
"""

import numpy as np

WINDOW_MODES = ("nonoverlapping", "original")


def window_starts(length, window_size=200, mode="nonoverlapping"):
    """Start indices of the inference windows of a light curve of `length` rows."""
    length, window_size = int(length), int(window_size)
    if window_size <= 0:
        raise ValueError(f"window_size must be positive, got {window_size}.")
    if mode == "original":
        last = max(0, length - window_size)
        return np.minimum(np.arange(length // window_size + 1) * window_size, last)
    if mode == "nonoverlapping":
        count = max(1, -(-length // window_size))
        return np.arange(count) * window_size
    raise ValueError(f"Unknown window mode {mode!r}; use one of {WINDOW_MODES}.")


def center(columns, float32_first=False):
    """Subtracts the per-column mean over the rows of `columns` (rows, k).

    Returns float32 `(rows, k)` and the float64 means `(k,)`.
    """
    if float32_first:
        values = np.asarray(columns, dtype=np.float32)
        means = _float32_mean(values)
        return values - means, means.astype(np.float64)
    values = np.asarray(columns, dtype=np.float64)
    means = values.mean(axis=0) if len(values) else np.zeros(values.shape[1])
    return (values - means).astype(np.float32), means


def _float32_mean(values):
    """Column means accumulated in float32, as `tf.reduce_mean` does on CPU."""
    if len(values) == 0:
        return np.zeros(values.shape[1], np.float32)
    # TensorFlow's CPU reduction sums float32 in float32; numpy's pairwise
    # float32 summation gives the same result on inputs of window size.
    return (values.sum(axis=0, dtype=np.float32) / np.float32(len(values))).astype(np.float32)


def pad(values, window_size):
    """Zero-pads `(rows, ...)` to `(window_size, ...)`."""
    values = np.asarray(values)
    out = np.zeros((window_size,) + values.shape[1:], dtype=values.dtype)
    out[: len(values)] = values
    return out


def center_per_band(magnitudes, bands):
    """Subtracts from each magnitude the mean of its band (float64).

    Multi-band windows: bands differ by colours of a magnitude or more, so
    one mean for the window would leave band offsets in the input.
    """
    magnitudes = np.asarray(magnitudes, np.float64)
    out = magnitudes.copy()
    for band in np.unique(bands):
        rows = bands == band
        out[rows] -= magnitudes[rows].mean()
    return out


def sequential_windows(light_curve, window_size=200, mode="nonoverlapping", float32_first=False, bands=None):
    """All inference windows of one light curve.

    Args:
        light_curve: `(L, 3)` array of time, magnitude, error (or `(L, 2)`
            without errors).
        window_size: observations per window.
        mode: "nonoverlapping" or "original" (see the module docstring).
        float32_first: reproduce the original float32 centring.

        bands: optional `(L,)` integer band index of every row (multi-band:
            rows of all bands merged in time order; magnitudes are centred
            per band within each window).

    Returns a dict of arrays with one row per window: `times`,
    `magnitudes` (centred), `errors` (as given) (float32,
    `(n, window_size)`), `padding_mask` (1 on padding), `lengths` (real
    observations), `starts` (first row) and `means` (`(n, 2)`, float64,
    the subtracted time and magnitude means), and with `bands`, `bands`
    (`(n, window_size)` float32 band indices, 0 on padding).
    """
    lc = np.asarray(light_curve)
    if lc.ndim != 2 or lc.shape[1] not in (2, 3):
        raise ValueError(
            f"A light curve must be an (L, 3) array of time, magnitude, error; got shape {lc.shape}."
        )
    if lc.shape[1] == 2:
        lc = np.concatenate([lc, np.zeros((len(lc), 1), lc.dtype)], axis=1)
    starts = window_starts(len(lc), window_size, mode)
    out = {k: [] for k in ("times", "magnitudes", "errors", "padding_mask", "lengths", "starts", "means")}
    for start in starts:
        rows = lc[start : start + window_size]
        centred, means = center(rows[:, :2], float32_first=float32_first)
        if bands is not None:
            window_bands = np.asarray(bands)[start : start + window_size]
            centred[:, 1] = center_per_band(rows[:, 1], window_bands)
            out.setdefault("bands", []).append(pad(window_bands.astype(np.float32), window_size))
        padded = pad(centred, window_size)
        out["times"].append(padded[:, 0])
        out["magnitudes"].append(padded[:, 1])
        out["errors"].append(pad(rows[:, 2].astype(np.float32), window_size))
        mask = np.ones(window_size, np.float32)
        mask[: len(rows)] = 0.0
        out["padding_mask"].append(mask)
        out["lengths"].append(len(rows))
        out["starts"].append(start)
        out["means"].append(means)
    result = {
        "times": np.stack(out["times"]).astype(np.float32),
        "magnitudes": np.stack(out["magnitudes"]).astype(np.float32),
        "errors": np.stack(out["errors"]).astype(np.float32),
        "padding_mask": np.stack(out["padding_mask"]),
        "lengths": np.asarray(out["lengths"], np.int64),
        "starts": np.asarray(out["starts"], np.int64),
        "means": np.stack(out["means"]),
    }
    if bands is not None:
        result["bands"] = np.stack(out["bands"])
    return result
