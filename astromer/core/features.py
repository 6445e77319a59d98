"""Hand-crafted light-curve features: the baseline astronomers already run.

44 features per band from the `light-curve` package (computed for many light
curves at once on every core), those of the reference baseline on the
EROS-1 few-shot splits (`../shared/baselines/FEATURES.md`, docs/features.md),
which `features_rf` reproduces. Several bands: one 44-column block per band,
side by side (`EROS_R_amplitude`, ...). A light curve too short for a
feature (or without a band) gets NaN there, and `FeatureReport` counts them.

    table, report = light_curve_features("lightcurves.parquet", bands=["EROS_B", "EROS_R"])
"""

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# The grid's highest frequency: 5 cycles per day (shortest period 0.2 d,
# below every RR Lyrae and most eclipsing binaries of ground surveys).
MAX_CYCLES_PER_DAY = 5.0
# Grid step at most 2π / (OVERSAMPLING · T): 5 points per peak width 1/T.
OVERSAMPLING = 5.0
PERIODOGRAM_PEAKS = 3
# The package's Lomb-Scargle returns 0 (not NaN) for a single observation.
MIN_PERIODOGRAM_OBSERVATIONS = 2


def periodogram_frequencies(max_baseline, max_cycles_per_day=MAX_CYCLES_PER_DAY, oversampling=OVERSAMPLING):
    """The periodogram's angular-frequency grid: linear from 0 to
    2π · `max_cycles_per_day`, 2^k + 1 points (the size the package's fast
    algorithm also accepts), with the smallest k whose step is at most
    2π / (oversampling · max_baseline).

    `max_baseline` is the longest time span in days of the data set (EROS-1:
    894 d, k = 15). It fixes the grid, so features for new objects that a
    trained classifier will read must use the same value.
    """
    max_baseline = float(max_baseline)
    if not np.isfinite(max_baseline) or max_baseline <= 0:
        raise ValueError(f"max_baseline must be a positive number of days, got {max_baseline!r}.")
    k = max(1, int(np.ceil(np.log2(oversampling * max_cycles_per_day * max_baseline))))
    return np.linspace(0.0, 2.0 * np.pi * max_cycles_per_day, 2 ** k + 1)


def feature_extractor(max_baseline):
    """The 44-feature `light_curve.Extractor` (one band); see FEATURES.md."""
    import light_curve as lc

    return lc.Extractor(
        lc.Amplitude(), lc.BeyondNStd(1.0), lc.BeyondNStd(2.0), lc.Cusum(), lc.Eta(), lc.EtaE(),
        lc.ExcessVariance(), lc.InterPercentileRange(0.02), lc.InterPercentileRange(0.10),
        lc.InterPercentileRange(0.25), lc.Kurtosis(), lc.LinearFit(), lc.LinearTrend(),
        lc.MagnitudePercentageRatio(0.40, 0.05), lc.MagnitudePercentageRatio(0.20, 0.10), lc.MaximumSlope(),
        lc.Mean(), lc.WeightedMean(), lc.Median(), lc.MeanVariance(), lc.MedianAbsoluteDeviation(),
        lc.MedianBufferRangePercentage(0.10), lc.MedianBufferRangePercentage(0.20), lc.OtsuSplit(),
        lc.PercentAmplitude(), lc.PercentDifferenceMagnitudePercentile(0.05),
        lc.PercentDifferenceMagnitudePercentile(0.10), lc.ReducedChi2(), lc.Skew(), lc.StandardDeviation(),
        lc.StetsonK(),
        # Direct algorithm: the package's fast periodogram picked 1 cycle/day
        # aliases on real survey data (0 of 60 EROS periods right), the direct
        # one did not (FEATURES.md).
        lc.Periodogram(peaks=PERIODOGRAM_PEAKS, freqs=periodogram_frequencies(max_baseline), fast=False),
    )


@dataclass
class FeatureReport:
    """What feature extraction did, by count: nothing is dropped unsaid."""

    light_curves: int = 0
    bands: list = field(default_factory=list)
    max_baseline: float = None
    missing_band: dict = field(default_factory=dict)        # band -> light curves without it
    rows_dropped: Counter = field(default_factory=Counter)  # "band: reason" -> observation rows
    nan_by_feature: dict = field(default_factory=dict)      # column -> light curves with NaN
    objects_with_nan: int = 0

    def summary(self):
        lines = [f"features: {self.light_curves:,} light curves, bands {self.bands or ['(single)']}, "
                 f"periodogram baseline {self.max_baseline:.1f} d", *self.dropped_lines()]
        if self.objects_with_nan:
            worst = sorted(self.nan_by_feature.items(), key=lambda kv: -kv[1])[:5]
            lines.append(f"  {self.objects_with_nan:,} light curves have NaN features (too few observations); "
                         "most often: " + ", ".join(f"{k} {v:,}" for k, v in worst))
        return "\n".join(lines)

    def dropped_lines(self):
        """What was missing or dropped, one line each."""
        return ([f"  {n:,} light curves have no {band} observation (that block is NaN)"
                 for band, n in self.missing_band.items() if n]
                + [f"  {n:,} observation rows dropped: {reason}" for reason, n in self.rows_dropped.items() if n])

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def add(self, other):
        """Counts of `other` (more light curves of the same bands and grid)
        added to these; the NaN counts are the caller's to recount."""
        self.light_curves += other.light_curves
        for band, n in other.missing_band.items():
            self.missing_band[band] = self.missing_band.get(band, 0) + n
        self.rows_dropped.update(other.rows_dropped)


def _band_arrays(lc, band, report):
    """(time, mag, err) of one band, float64, finite, sorted, repeated times
    dropped (the package needs strictly increasing times)."""
    time, mag, err = lc.time, lc.mag, lc.err
    if band is not None:
        keep = lc.band.astype(str) == band if lc.band is not None else np.zeros(len(time), bool)
        time, mag, err = time[keep], mag[keep], err[keep]
    label = band or "all"
    finite = np.isfinite(time) & np.isfinite(mag) & np.isfinite(err)
    report.rows_dropped[f"{label}: NaN/inf time, magnitude or error"] += int((~finite).sum())
    time, mag, err = time[finite], mag[finite], err[finite]
    order = np.argsort(time, kind="stable")
    time, mag, err = time[order], mag[order], err[order]
    repeated = np.zeros(len(time), bool)
    repeated[1:] = np.diff(time) == 0
    report.rows_dropped[f"{label}: repeated time (first kept)"] += int(repeated.sum())
    keep = ~repeated
    return (np.ascontiguousarray(time[keep], np.float64), np.ascontiguousarray(mag[keep], np.float64),
            np.ascontiguousarray(err[keep], np.float64))


def _bands_of(light_curves, bands, strict=True):
    from astromer.data.lightcurves import bands_of

    found = set(bands_of(light_curves))
    if bands is None:
        return sorted(found) if found else [None]
    bands = [str(b) for b in bands]
    absent = [b for b in bands if b not in found]
    if absent and strict:
        raise ValueError(f"Band(s) {absent} are not in the light curves, which have bands "
                         f"{sorted(found) or 'none (no band column)'}.")
    return bands


def run_bands_and_baseline(light_curves, bands=None):
    """`(bands, max_baseline)` of a whole data set: the feature columns and
    the periodogram grid every subset of it must share (features of a few
    objects computed with the data set's values equal those of the same
    objects computed with all the others)."""
    bands = _bands_of(light_curves, bands)
    ignored = FeatureReport()
    return bands, _longest_span(_band_arrays(lc, band, ignored) for band in bands for lc in light_curves)


def _longest_span(arrays):
    """The longest time span (days) of `(time, mag, err)` arrays."""
    spans = [t[-1] - t[0] for t, _, _ in arrays if len(t) > 1]
    if not spans:
        raise ValueError("No light curve has two observations at different times: "
                         "the periodogram needs a time span (pass max_baseline).")
    return float(max(spans))


def light_curve_features(source, bands=None, max_baseline=None, n_jobs=-1, chunk=512, progress=True,
                         strict_bands=True):
    """44 hand-crafted features per band for every light curve of `source`.

    Args:
        source: a Parquet/CSV table or folder, a DataFrame, an astropy table,
            a list of `LightCurve`s or of `(L, 3)` arrays (what
            `astromer.data.lightcurves.iter_light_curves` reads).
        bands: the bands to compute, in column order (default: every band in
            the data, sorted; a table without a band column is one band and
            its columns carry no prefix).
        max_baseline: the longest time span (days) that sets the periodogram
            grid (`periodogram_frequencies`); default: the longest in
            `source`. Reuse the value reported for the training data when
            computing features for new objects.
        n_jobs: threads for the package's parallel call (-1: every core).
        chunk: light curves per parallel call (the progress bar's step).
        progress: show a progress bar on stderr.
        strict_bands: False lets `bands` name a band none of these light
            curves has (its block is NaN): a subset of a larger data set.

    Returns:
        (DataFrame indexed by id, one column per band and feature; `FeatureReport`).
    """
    from astromer.data.lightcurves import iter_light_curves
    from astromer.progress import progress as progress_bar

    light_curves = list(iter_light_curves(source))
    if not light_curves:
        raise ValueError(f"{source!r} holds no light curve: nothing to compute features for.")
    bands = _bands_of(light_curves, bands, strict_bands)
    report = FeatureReport(light_curves=len(light_curves), bands=[b for b in bands if b is not None])
    arrays = {band: [_band_arrays(lc, band, report) for lc in light_curves] for band in bands}
    if max_baseline is None:
        max_baseline = _longest_span(a for per_band in arrays.values() for a in per_band)
    report.max_baseline = float(max_baseline)
    extractor = feature_extractor(max_baseline)
    names = list(extractor.names)
    periodogram = np.array([n.startswith("periodogram") for n in names])
    blocks = []
    bar = progress_bar(total=len(light_curves) * len(bands), unit="light curves", enabled=progress,
                       desc="features")
    with bar:
        for band in bands:
            values = np.full((len(light_curves), len(names)), np.nan)
            lengths = np.array([len(t) for t, _, _ in arrays[band]])
            report.missing_band[band or "all"] = int((lengths == 0).sum())
            # The package refuses empty arrays: those rows stay NaN.
            present = np.flatnonzero(lengths > 0)
            for start in range(0, len(present), chunk):
                rows = present[start:start + chunk]
                values[rows] = extractor.many([arrays[band][i] for i in rows], fill_value=np.nan, sorted=True,
                                              check=False, n_jobs=n_jobs)
                bar.update(len(rows))
            bar.update(len(light_curves) - len(present))
            values[np.ix_(lengths < MIN_PERIODOGRAM_OBSERVATIONS, periodogram)] = np.nan
            # A zero error gives an infinite weighted statistic: NaN, counted,
            # rather than an inf a classifier cannot split on.
            values[~np.isfinite(values)] = np.nan
            prefix = "" if band is None else f"{band}_"
            blocks.append(pd.DataFrame(values, columns=[prefix + n for n in names]))
    table = pd.concat(blocks, axis=1)
    table.index = pd.Index([lc.id for lc in light_curves], name="id")
    nan = table.isna()
    report.nan_by_feature = {c: int(n) for c, n in nan.sum().items() if n}
    report.objects_with_nan = int(nan.any(axis=1).sum())
    return table, report


def write_feature_table(source, out, bands=None, max_baseline=None, n_jobs=-1, progress=True):
    """Computes `light_curve_features` and writes them to `out` (Parquet, or
    CSV by extension) with an `id` column; the report (and the periodogram
    baseline to reuse for new objects) goes to `<out>.report.json`.
    Returns the report."""
    import os

    table, report = light_curve_features(source, bands=bands, max_baseline=max_baseline, n_jobs=n_jobs,
                                         progress=progress)
    frame = table.reset_index()
    tmp = f"{out}.tmp"
    if str(out).endswith((".csv", ".csv.gz")):
        frame.to_csv(tmp, index=False, compression="gzip" if str(out).endswith(".gz") else None)
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    with open(f"{out}.report.json", "w") as f:
        json.dump(report.to_dict(), f, indent=2)
    return report


def bands_and_span(light_curves, bands=None):
    """`(bands found, longest span in days)` of some light curves: the
    bands they have (sorted; `[]` without a band column) and the longest
    time span over `bands` (default: all they have), 0.0 when no light
    curve has two distinct times. A job over partitions takes the union of
    the bands and the largest span, so that every partition's features use
    one column set and one periodogram grid."""
    from astromer.data.lightcurves import bands_of

    found = sorted(set(bands_of(light_curves)))
    ignored = FeatureReport()
    wanted = [str(b) for b in bands] if bands is not None else (found or [None])
    spans = [t[-1] - t[0] for band in wanted for lc in light_curves
             for t, _, _ in [_band_arrays(lc, band, ignored)] if len(t) > 1]
    return found, float(max(spans)) if spans else 0.0
