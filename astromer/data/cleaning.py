"""Cleaning light curves, with a count of everything that is changed or dropped.

Steps, in order (each configurable; see `CleaningConfig`):

1. rows with NaN/inf time, magnitude or error are dropped, and rows with
   finite values the model cannot represent (|time| > `max_abs_time` =
   1e7 days, |magnitude| > `max_abs_mag` = 1e6, |error| > `max_abs_err` =
   1e6; why: docs/robustness.md, "Cleaning"), each counted by reason;
2. unsorted light curves are sorted by time (counted);
3. repeated times keep their first observation (counted);
4. rows with an error outside (`min_error`, `max_error`) are dropped (the
   Astromer 2 paper, Sect. 4.1, removes errors <= 0 or >= 1);
5. optional per-light-curve percentile clipping of magnitudes (the paper
   discards the 1st and 99th percentiles);
6. optional light-curve filters on kurtosis / skewness / standard deviation
   (the paper's |kurtosis| > 10, |skewness| > 1, std > 0.1), off by default;
7. light curves with fewer than `min_observations` rows are dropped and
   reported by id.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from astromer.data.lightcurves import LightCurve


@dataclass
class CleaningConfig:
    """What `clean_light_curves` does. Values follow the Astromer 2 paper
    (Sect. 4.1) except the light-curve filters, which are off unless set."""

    min_error: float = 0.0
    max_error: float = 1.0
    max_abs_time: float = 1e7  # days
    max_abs_mag: float = 1e6
    max_abs_err: float = 1e6
    clip_percentiles: tuple = None  # e.g. (1, 99)
    max_abs_kurtosis: float = None  # the paper's 10
    max_abs_skewness: float = None  # the paper's 1
    max_std: float = None  # the paper's 0.1
    min_observations: int = 5

    @classmethod
    def from_dict(cls, values):
        values = dict(values or {})
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"Unknown cleaning setting(s) {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}."
            )
        if values.get("clip_percentiles") is not None:
            values["clip_percentiles"] = tuple(values["clip_percentiles"])
        return cls(**values)


@dataclass
class CleaningReport:
    """Counts of what cleaning changed (rows and light curves)."""

    light_curves_in: int = 0
    light_curves_out: int = 0
    rows_in: int = 0
    rows_out: int = 0
    rows_nonfinite: int = 0
    rows_time_out_of_range: int = 0
    rows_mag_out_of_range: int = 0
    rows_err_out_of_range: int = 0
    light_curves_unsorted: int = 0
    # Set by float32-first (compat original) embedding: Julian Dates moved
    # to MJD, the scale the published weights expect (astromer.data.time_scale).
    light_curves_jd_to_mjd: int = 0
    rows_duplicate_time: int = 0
    rows_bad_error: int = 0
    rows_clipped: int = 0
    light_curves_filtered: int = 0
    light_curves_too_short: int = 0
    too_short_ids: list = field(default_factory=list)
    filtered_ids: list = field(default_factory=list)
    # Set by the Embedder: kept by cleaning, but the model gave no finite
    # embedding (should not happen after the bounds above; never silent).
    light_curves_not_embedded: int = 0
    not_embedded_ids: list = field(default_factory=list)

    def merge(self, other):
        for key, value in asdict(other).items():
            if isinstance(value, list):
                getattr(self, key).extend(value)
            else:
                setattr(self, key, getattr(self, key) + value)

    def summary(self, max_ids=10):
        lines = [
            f"light curves: {self.light_curves_in} read, {self.light_curves_out} kept",
            f"rows: {self.rows_in} read, {self.rows_out} kept",
            f"  dropped {self.rows_nonfinite} rows with NaN/inf time, magnitude or error",
        ]
        for name, what in (("time", "times"), ("mag", "magnitudes"), ("err", "errors")):
            count = getattr(self, f"rows_{name}_out_of_range")
            if count:
                lines.append(f"  dropped {count} rows with {what} too large for the model (see CleaningConfig"
                             f".max_abs_{name})")
        lines += [
            f"  sorted {self.light_curves_unsorted} light curves whose times were not increasing",
            f"  dropped {self.rows_duplicate_time} rows repeating an earlier time",
            f"  dropped {self.rows_bad_error} rows with an error outside the allowed range",
            f"  dropped {self.rows_clipped} rows outside the magnitude percentiles",
        ]
        if self.light_curves_jd_to_mjd:
            lines.append(f"  converted the times of {self.light_curves_jd_to_mjd} light curves from JD to MJD "
                         "(time - 2400000.5: float32 centring, compat original, needs MJD-like times)")
        if self.light_curves_filtered:
            lines.append(
                f"  dropped {self.light_curves_filtered} light curves by the kurtosis/skewness/std filters"
                f" (e.g. {self.filtered_ids[:max_ids]})"
            )
        if self.light_curves_too_short:
            lines.append(
                f"  dropped {self.light_curves_too_short} light curves below the minimum number of"
                f" observations: {self.too_short_ids[:max_ids]}"
                + (" ..." if len(self.too_short_ids) > max_ids else "")
            )
        if self.light_curves_not_embedded:
            lines.append(
                f"  skipped {self.light_curves_not_embedded} light curves that could not be embedded (non-finite"
                f" model input or output): {self.not_embedded_ids[:max_ids]}"
                + (" ..." if len(self.not_embedded_ids) > max_ids else "")
            )
        return "\n".join(lines)


def _moments(mag):
    centred = mag - mag.mean()
    std = centred.std()
    if std == 0:
        return 0.0, 0.0, 0.0
    z = centred / std
    return float(std), float(np.mean(z**3)), float(np.mean(z**4) - 3.0)


def clean_light_curve(lc, config=None, report=None):
    """Cleans one light curve. Returns the cleaned `LightCurve`, or None when
    it is dropped; counts go to `report` (a `CleaningReport`)."""
    config = config or CleaningConfig()
    report = report if report is not None else CleaningReport()
    report.light_curves_in += 1
    report.rows_in += len(lc.time)
    time, mag, err = (np.asarray(a, dtype=np.float64) for a in (lc.time, lc.mag, lc.err))
    band = None if lc.band is None else np.asarray(lc.band)

    def keep(rows):
        nonlocal time, mag, err, band
        time, mag, err = time[rows], mag[rows], err[rows]
        if band is not None:
            band = band[rows]

    finite = np.isfinite(time) & np.isfinite(mag) & np.isfinite(err)
    report.rows_nonfinite += int((~finite).sum())
    keep(finite)
    for name, bound in (("time", config.max_abs_time), ("mag", config.max_abs_mag), ("err", config.max_abs_err)):
        if bound is None:
            continue
        inside = np.abs({"time": time, "mag": mag, "err": err}[name]) <= bound
        if not inside.all():
            setattr(report, f"rows_{name}_out_of_range",
                    getattr(report, f"rows_{name}_out_of_range") + int((~inside).sum()))
            keep(inside)

    if np.any(np.diff(time) < 0):
        report.light_curves_unsorted += 1
        keep(np.argsort(time, kind="stable"))
    # Repeated times: with several bands, one time per band is allowed.
    if band is None or len(np.unique(band)) < 2:
        _, first = np.unique(time, return_index=True)
    else:
        codes = np.unique(band, return_inverse=True)[1].astype(np.float64)
        _, first = np.unique(np.stack([time, codes], 1), axis=0, return_index=True)
    if len(first) < len(time):
        report.rows_duplicate_time += len(time) - len(first)
        keep(np.sort(first))

    good = (err > config.min_error) & (err < config.max_error)
    report.rows_bad_error += int((~good).sum())
    keep(good)

    if config.clip_percentiles is not None and len(mag):
        low, high = np.percentile(mag, config.clip_percentiles)
        inside = (mag >= low) & (mag <= high)
        report.rows_clipped += int((~inside).sum())
        keep(inside)

    if len(mag) and any(
        v is not None for v in (config.max_abs_kurtosis, config.max_abs_skewness, config.max_std)
    ):
        std, skew, kurt = _moments(mag)
        # The paper drops light curves "that exhibited Gaussian noise
        # characteristics" by these thresholds; each one set is applied.
        if (
            (config.max_abs_kurtosis is not None and abs(kurt) > config.max_abs_kurtosis)
            or (config.max_abs_skewness is not None and abs(skew) > config.max_abs_skewness)
            or (config.max_std is not None and std > config.max_std)
        ):
            report.light_curves_filtered += 1
            report.filtered_ids.append(lc.id)
            return None

    if len(time) < config.min_observations:
        report.light_curves_too_short += 1
        report.too_short_ids.append(lc.id)
        return None
    report.light_curves_out += 1
    report.rows_out += len(time)
    return LightCurve(lc.id, time, mag, err, band=band, label=lc.label, meta=lc.meta)


def clean_light_curves(light_curves, config=None, report=None):
    """Generator of cleaned light curves; counts accumulate in `report`."""
    config = config if isinstance(config, CleaningConfig) else CleaningConfig.from_dict(config)
    report = report if report is not None else CleaningReport()
    for lc in light_curves:
        cleaned = clean_light_curve(lc, config, report)
        if cleaned is not None:
            yield cleaned
