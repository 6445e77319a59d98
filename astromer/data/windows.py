"""Cutting light curves into fixed-length, centred, padded windows.

A window holds up to `window_size` consecutive observations. Times and
magnitudes are centred on the window's mean over its real observations
(errors are kept as they are: they are scales, and AstroCo reads them);
shorter windows are zero-padded and `padding_mask` is 1 on the padded steps.
`center_windows` is the one centring of the library: every task, the NumPy
and the tf.data paths alike.

Centring precision:

- default: means and differences in float64, then a float32 cast. An MJD
  near 50,000 has a float32 step of about 5 minutes; centring first keeps
  the sub-second timing of each observation.
- `float32_first=True`: the original order (cast the raw light curve to
  float32, then subtract a float32 mean). Bit-for-bit what both original
  code bases fed to the published models.

Inference windowing strategies (`window_starts`, `mode=`):

- "nonoverlapping" (default): consecutive windows, every observation once;
  the last window may be shorter.
- "original": `floor(L / W) + 1` windows, the last one right-aligned on the
  last observation, so it overlaps the previous one and is an exact
  duplicate when `L % W == 0` (both original code bases).
"""

import numpy as np

from astromer.data.masking import NumpyOps

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


def center_windows(ops, time, mag, err, padding, bands=None, num_bands=0, float32_first=False):
    """Centres a batch of padded windows, in NumPy or TensorFlow (`ops`).

    Args:
        time, mag, err: `(B, W)` float64, 0 on padding.
        padding: `(B, W)` float32, 1 on padded steps.
        bands: `(B, W)` band indices (joint multi-band): magnitudes are
            centred on the mean of their band in the window (always in
            float64: bands differ by colours of a magnitude or more).
        num_bands: how many band indices there are.
        float32_first: the original float32 order (see the module docstring).

    Returns a dict: float32 `times`, `magnitudes`, `errors` (as measured, 0
    on padding), `weight_errors` (the errors the loss weights read) and the
    float64 `time_mean` and `mag_mean` `(B,)` subtracted.
    """
    real = 1.0 - ops.to_float32(padding)
    real64 = ops.to_float64(real)
    errors = ops.to_float32(err) * real
    if float32_first:
        t, m, weight_errors, t_mean, m_mean = ops.numpy_function(
            _float32_first, [time, mag, err, padding], ["float32"] * 3 + ["float64"] * 2,
            [time.shape] * 3 + [time.shape[:1]] * 2)
    else:
        count = ops.to_float64(ops.maximum(ops.sum(real, 1), 1.0))
        t_mean = ops.sum(time * real64, 1) / count
        m_mean = ops.sum(mag * real64, 1) / count
        t = ops.to_float32((time - ops.expand(t_mean, -1)) * real64)
        m = ops.to_float32((mag - ops.expand(m_mean, -1)) * real64)
        weight_errors = errors
    if bands is not None:
        band_mean = 0.0 * mag
        for band in range(int(num_bands)):
            in_band = ops.to_float64(ops.to_float32(bands) == float(band)) * real64
            count = ops.maximum(ops.sum(in_band, 1), 1.0)
            band_mean = band_mean + in_band * ops.expand(ops.sum(mag * in_band, 1) / count, -1)
        m = ops.to_float32((mag - band_mean) * real64)
    return {"times": t, "magnitudes": m, "errors": errors, "weight_errors": weight_errors,
            "time_mean": t_mean, "mag_mean": m_mean}


def _float32_first(time, mag, err, padding):
    """The original centring, window by window: float32 cast, then the
    float32 mean of its real rows (accumulated in float32, as
    `tf.reduce_mean` does on CPU) subtracted, for time, magnitude and error.
    The errors returned are those the original loader weights: centred,
    zero-padded, then the mean added back, so padded steps carry the
    window's mean error (ORACLES.md, section 3)."""
    out = [np.zeros(np.shape(time), np.float32) for _ in range(3)]
    means = np.zeros((len(time), 3), np.float32)
    for row in range(len(time)):
        n = int(round(float((1.0 - padding[row]).sum())))
        if n:
            values = np.stack([time[row, :n], mag[row, :n], err[row, :n]], 1).astype(np.float32)
            means[row] = values.sum(axis=0, dtype=np.float32) / np.float32(n)
            for column in range(3):
                out[column][row, :n] = values[:, column] - means[row, column]
        out[2][row] += means[row, 2]
    return out[0], out[1], out[2], means[:, 0].astype(np.float64), means[:, 1].astype(np.float64)


def gather_windows(columns, starts, window_size, packed=None):
    """`(B, W)` windows of each of `columns` (1-D arrays of all rows): window
    b holds the rows `offsets[b] + starts[b] ...` of its light curve of
    `lengths[b]` rows, 0 on padding; `packed=(offsets, lengths)` for packed
    light curves, None for one light curve. Returns (windows, padding)."""
    starts = np.asarray(starts, np.int64)
    offsets, lengths = packed if packed is not None else (np.zeros_like(starts), len(columns[0]))
    valid = np.arange(window_size)[None, :] < np.minimum(np.asarray(lengths) - starts, window_size)[..., None]
    rows = np.where(valid, (offsets + starts)[:, None] + np.arange(window_size)[None, :], 0)
    # (An empty light curve has one window, all padding.)
    columns = [np.asarray(c) if len(c) else np.zeros(1, np.asarray(c).dtype) for c in columns]
    return [np.where(valid, column[rows], 0) for column in columns], (~valid).astype(np.float32)


class _RowOrderOps(NumpyOps):
    # Inference windows have always summed a window's rows in order (the
    # training batches pairwise, as `np.sum` does): each path keeps its
    # float64 summation order, so that embeddings and batches stay
    # bit-for-bit what they were.
    sum = staticmethod(lambda x, axis: np.cumsum(x, axis=axis).take(-1, axis=axis))


def sequential_windows(light_curve, window_size=200, mode="nonoverlapping", float32_first=False, bands=None):
    """All inference windows of one light curve.

    Args:
        light_curve: `(L, 3)` array of time, magnitude, error (or `(L, 2)`
            without errors).
        window_size: observations per window.
        mode: "nonoverlapping" or "original" (see the module docstring).
        float32_first: reproduce the original float32 centring.
        bands: optional `(L,)` integer band index of every row (multi-band:
            rows of all bands merged in time order).

    Returns a dict of arrays with one row per window: `times`,
    `magnitudes` (centred), `errors` (as given) (float32,
    `(n, window_size)`), `padding_mask` (1 on padding), `lengths` (real
    observations), `starts` (first row) and `means` (`(n, 2)`, float64,
    the subtracted time and magnitude means), and with `bands`, `bands`
    (`(n, window_size)` float32 band indices, 0 on padding).
    """
    lc = np.asarray(light_curve, np.float64)
    if lc.ndim != 2 or lc.shape[1] not in (2, 3):
        raise ValueError(
            f"A light curve must be an (L, 3) array of time, magnitude, error; got shape {lc.shape}."
        )
    if lc.shape[1] == 2:
        lc = np.concatenate([lc, np.zeros((len(lc), 1))], axis=1)
    starts = window_starts(len(lc), window_size, mode)
    columns = [lc[:, 0], lc[:, 1], lc[:, 2]] + ([np.asarray(bands, np.float64)] if bands is not None else [])
    (time, mag, err, *band), padding = gather_windows(columns, starts, window_size)
    band = band[0] if bands is not None else None
    num_bands = int(np.max(bands)) + 1 if bands is not None and len(bands) else 0
    centred = center_windows(_RowOrderOps, time, mag, err, padding, band, num_bands, float32_first)
    # (+ 0: padded steps hold +0.0, as inference windows always have; the
    # centring's products leave -0.0 where the mean is positive.)
    out = {"times": centred["times"] + np.float32(0), "magnitudes": centred["magnitudes"] + np.float32(0),
           "errors": centred["errors"] + np.float32(0),
           "padding_mask": padding, "lengths": (1 - padding).sum(1).astype(np.int64), "starts": starts,
           "means": np.stack([centred["time_mean"], centred["mag_mean"]], 1)}
    if bands is not None:
        out["bands"] = band.astype(np.float32)
    return out
