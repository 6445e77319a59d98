"""Hand-crafted features of the objects a few-shot run needs, computed once each.

The columns (bands) and the periodogram grid (the longest baseline) are
those of the whole table, so an object's features do not depend on which
other objects were computed with it; only the objects of the cells a run
scores are computed, each once, and kept for the other cells (and in
`<out>/cache` for later runs, with `cache_dir`).

Cleaning: the features read the benchmark's light curves (errors outside
(0, 1) dropped by `astromer-fewshot`), then `features._band_arrays`
(finite rows, sorted, repeated times dropped), as `features_rf` was checked
against the reference baseline (docs/features.md); the encoder's own
cleaning (its compat) does not apply to them.
"""

import numpy as np

from astromer.fewshot.features import FeatureReport, feature_extractor, light_curve_features, run_bands_and_baseline
from astromer.fewshot.object_cache import ObjectCache, light_curve_hash


class FeatureStore:
    """Per-object feature rows: `ensure(ids)` computes the missing ones,
    `table()` gives `(values (N, F), {id: row}, column names)` of every
    object computed so far."""

    def __init__(self, light_curves, bands=None, verbose=True, cache_dir=None):
        import light_curve

        self.by_id = {lc.id: lc for lc in light_curves}
        self.bands, self.max_baseline = run_bands_and_baseline(list(self.by_id.values()), bands)
        names = list(feature_extractor(self.max_baseline).names)
        self.names = [("" if b is None else f"{b}_") + n for b in self.bands for n in names]
        self.verbose = verbose
        self.report = FeatureReport(bands=[b for b in self.bands if b is not None], max_baseline=self.max_baseline)
        self.cache = ObjectCache(cache_dir, "features", {
            "bands": self.bands, "max_baseline": self.max_baseline, "columns": self.names,
            "light_curve": light_curve.__version__})
        self.rows, self._values, self._table = {}, [], None
        self.computed, self.from_cache = 0, 0

    def ensure(self, ids):
        """Computes (or reads from the cache) the features of `ids` not yet
        here; ids without a light curve are left out (the split's check
        names them)."""
        todo = [i for i in dict.fromkeys(ids) if i in self.by_id and i not in self.rows]
        if not todo:
            return
        hashes = {i: light_curve_hash(self.by_id[i]) for i in todo}
        cached = {i: self.cache.get(i, hashes[i]) for i in todo}
        missing = [i for i in todo if cached[i] is None]
        if missing:
            # [None]: a table without a band column (no prefix), which
            # light_curve_features reads from bands=None.
            bands = None if self.bands == [None] else self.bands
            table, report = light_curve_features([self.by_id[i] for i in missing], bands=bands,
                                                 max_baseline=self.max_baseline, progress=self.verbose,
                                                 strict_bands=False)
            self.report.add(report)
            values = table.to_numpy(np.float64)
            cached.update(zip(missing, values))
            self.cache.put({i: (hashes[i], v) for i, v in zip(missing, values)})
            self.cache.save()
            self.computed += len(missing)
        self.from_cache += len(todo) - len(missing)
        for i in todo:
            self.rows[i] = len(self._values)
            self._values.append(cached[i])
        self._table = None
        if self.verbose:
            print(self.summary(len(missing), len(todo) - len(missing)), flush=True)

    def table(self):
        if self._table is None:
            width = len(self.names)
            values = np.array(self._values, np.float64).reshape(-1, width)
            self._table = (values, self.rows, self.names)
        return self._table

    def report_dict(self):
        """The run's `FeatureReport`, its NaN counts over every object here."""
        values = self.table()[0]
        nan = np.isnan(values)
        self.report.nan_by_feature = {c: int(n) for c, n in zip(self.names, nan.sum(0)) if n}
        self.report.objects_with_nan = int(nan.any(1).sum())
        return {**self.report.to_dict(), "light_curves_from_cache": self.from_cache}

    def summary(self, computed, cached):
        where = f", {cached:,} read from {self.cache.path}" if cached else ""
        lines = [f"features: {computed:,} light curves computed{where} (bands {self.report.bands or ['(single)']}, "
                 f"periodogram baseline {self.max_baseline:.1f} d, the table's longest)"]
        for band, n in self.report.missing_band.items():
            if n:
                lines.append(f"  {n:,} light curves have no {band} observation (that block is NaN)")
        for reason, n in self.report.rows_dropped.items():
            if n:
                lines.append(f"  {n:,} observation rows dropped: {reason}")
        return "\n".join(lines)
