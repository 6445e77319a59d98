"""Inference: light curves -> the model inputs of every sequential window."""

import dataclasses
import os

import numpy as np

from astromer.compat import original_settings, resolve_compat
from astromer.data.cleaning import CleaningConfig
from astromer.data.time_scale import shifted
from astromer.data.windows import sequential_windows
from astromer.preprocessing.preprocessor import Preprocessor, model_settings
from astromer.preprocessing.reading import band_indices, read_light_curves

INPUTS = ("magnitudes", "times", "errors", "padding_mask", "hidden_mask", "bands")


class InferencePreprocessor(Preprocessor):
    """Light curves (tables, `LightCurve`s, `(L, 2 | 3)` arrays) -> the inputs
    of every sequential window, nothing hidden: what the `Embedder`, the
    attention maps and the hub windows read.

    `compat="original"` reads as the original library did (ASTROMER 0.1.8,
    the published Astromer 1 weights: `astromer.compat`): windows
    "original" (the last one right-aligned), float32-first centring with
    Julian Dates moved to MJD, no row dropped for its error (an explicit
    `cleaning` still applies). "default" follows the papers: non-
    overlapping windows, float64 centring (a time offset does not change a
    window), errors in (0, 1).

    Example:
    >>> pre = InferencePreprocessor.from_backbone(backbone, compat="auto")
    >>> inputs = pre(light_curves)        # dict of (windows, window_size) float32

    Args:
        window_size: observations per window.
        input_names: the inputs to return (a backbone's; None: all).
        band_names: a joint multi-band model's bands (every step gets its
            band index; magnitudes are centred per band).
        compat: "default" or "original" ("auto" needs the weights:
            `from_backbone`).
        window_mode, float32_first: windows and centring ("nonoverlapping"
            or "original"; compat "original" sets both).
        band: single-band models on multi-band tables: the band to read (a
            light curve with several bands and no `band` fails naming them).
        cleaning: a `CleaningConfig` or dict (default: NaN/inf rows and
            errors outside (0, 1) dropped, at least 1 observation).
        time_offset: days subtracted from every time as it is read.
    """

    def __init__(self, window_size=200, input_names=None, band_names=None, compat="default",
                 window_mode="nonoverlapping", float32_first=False, band=None, cleaning=None, time_offset=0.0):
        if compat not in ("default", "original"):
            raise ValueError(f"Unknown compat {compat!r}; use 'default' or 'original' ('auto': from_backbone).")
        if compat == "original":
            original = original_settings()
            window_mode, float32_first = original["window_mode"], original["float32_first"]
            cleaning = original["cleaning"] if cleaning is None else cleaning
        self.window_size = int(window_size)
        self.input_names = INPUTS if input_names is None else tuple(input_names)
        self.band_names = list(band_names) if band_names else None
        self.compat = compat
        self.window_mode = window_mode
        self.float32_first = bool(float32_first)
        self.band = band
        if cleaning is None:
            cleaning = CleaningConfig(min_observations=1)
        self.cleaning = cleaning if isinstance(cleaning, CleaningConfig) else CleaningConfig.from_dict(cleaning)
        self.time_offset = float(time_offset)

    @classmethod
    def from_backbone(cls, backbone, compat="auto", **kwargs):
        """For `backbone`'s window, inputs and bands; `compat="auto"` is
        "original" for weights converted from an original checkpoint."""
        window_size, input_names, band_names = model_settings(None, backbone)
        return cls(window_size, input_names, band_names, compat=resolve_compat(compat, backbone), **kwargs)

    @classmethod
    def from_preset(cls, config, backbone=None):
        """From a preset's `model` section (or `backbone`) and its `data`
        section's `band` and `compat`."""
        window_size, input_names, band_names = model_settings(config, backbone)
        data = config.get("data") or {}
        return cls(window_size, input_names, band_names, compat=data.get("compat") or "default",
                   band=data.get("band"))

    def get_config(self):
        return {**super().get_config(), "cleaning": dataclasses.asdict(self.cleaning)}

    def read(self, source, report=None, ids=None, on_rows=None, read_rows=500_000, clean=True):
        """The light curves of `source` (a table path, streamed `read_rows`
        rows at a time, or anything `iter_light_curves` reads) as the model
        reads them (`reading.read_light_curves`, counted in `report`);
        `clean=False`: the band and the time scale only, without the
        end-of-stream checks."""
        from astromer.data.cleaning import CleaningReport
        from astromer.data.lightcurves import iter_light_curves, stream_light_curves

        if isinstance(source, (str, os.PathLike)):
            stream = stream_light_curves(source, on_rows=on_rows, batch_rows=read_rows)
        else:
            stream = iter_light_curves(source, ids=ids)
        report = CleaningReport() if report is None else report
        if self.time_offset:
            stream = (shifted(lc, self.time_offset) for lc in stream)
        return read_light_curves(stream, report, self.band_names, self.band, self.cleaning if clean else None,
                                 self.float32_first, checks=clean)

    def windows(self, light_curve):
        """Every window of one light curve as read (`read`): a dict of
        `(n, window_size)` arrays (the inputs, plus `lengths`, `starts` and
        `means`, see `astromer.data.windows.sequential_windows`)."""
        bands = band_indices(light_curve.band, self.band_names) if self.band_names else None
        windows = sequential_windows(light_curve.as_array(), self.window_size, mode=self.window_mode,
                                     float32_first=self.float32_first, bands=bands)
        windows["hidden_mask"] = np.zeros_like(windows["padding_mask"])
        return windows

    def inputs(self, windows):
        """The model inputs of `windows`: a dict of stacked arrays, or a list
        of one-window dicts."""
        if isinstance(windows, (list, tuple)):
            return {name: np.stack([w[name] for w in windows]) for name in self.input_names if name in windows[0]}
        return {name: windows[name] for name in self.input_names if name in windows}

    def __call__(self, light_curves):
        """The inputs of every window of `light_curves` (`LightCurve`s or
        arrays, not cleaned), in order."""
        parts = [self.windows(lc) for lc in self.read(light_curves, clean=False)]
        return self.inputs({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})


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

