"""Hand-crafted features of the objects a few-shot run needs, computed once each.

The columns (bands) and the periodogram grid (the longest baseline) are the
whole table's, so an object's features do not depend on which others were
computed with it; they are kept for the other cells (and in `<out>/cache`).
They read the benchmark's cleaned light curves (errors outside (0, 1)
dropped), then `features._band_arrays`, as `features_rf` was checked against
the reference baseline; the encoder's own cleaning does not apply to them.
"""

import numpy as np

from astromer.core.features import FeatureReport, feature_extractor, light_curve_features, run_bands_and_baseline
from astromer.fewshot.object_cache import ObjectCache


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
        self.from_cache = 0

    def ensure(self, ids):
        """Computes (or reads from the cache) the features of `ids` not yet
        here; ids without a light curve are left out (the split's check
        names them)."""
        todo = [i for i in dict.fromkeys(ids) if i in self.by_id and i not in self.rows]
        if not todo:
            return
        found, missing, hashes = self.cache.lookup({i: self.by_id[i] for i in todo})
        if missing:
            # [None]: a table without a band column (no prefix), which
            # light_curve_features reads from bands=None.
            bands = None if self.bands == [None] else self.bands
            table, report = light_curve_features([self.by_id[i] for i in missing], bands=bands,
                                                 max_baseline=self.max_baseline, progress=self.verbose,
                                                 strict_bands=False)
            self.report.add(report)
            computed = dict(zip(missing, table.to_numpy(np.float64)))
            found.update(computed)
            self.cache.store(computed, hashes)
        self.from_cache += len(todo) - len(missing)
        for i in todo:
            self.rows[i] = len(self._values)
            self._values.append(found[i])
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
        return "\n".join([f"features: {computed:,} light curves computed{where} (bands "
                          f"{self.report.bands or ['(single)']}, periodogram baseline {self.max_baseline:.1f} d, "
                          "the table's longest)", *self.report.dropped_lines()])
