"""The manifest of a survey job's output folder (`<out>/manifest.json`):
the settings it was made with, each finished partition (its output file,
counts, cleaning report, worker and peak memory), the features' resolved
bands and baseline, and the statistics file. Only the job's client writes
it, atomically (a temporary file renamed), after each partition."""

import json
import os

import numpy as np

from astromer.errors import ConfigError

MANIFEST = "manifest.json"
STATISTICS = "stats.json"
REPORT = "report.json"


class Manifest:
    """`<out>/manifest.json`, read on open and written on every `record`."""

    def __init__(self, out, data):
        self.out = out
        self.data = data

    @classmethod
    def open(cls, out, fingerprint):
        """The manifest of `out` (a new one if there is none). An `out`
        made with another fingerprint (weights, layer, features, ...) is a
        one-line error: its files would mix two kinds of rows."""
        path = os.path.join(out, MANIFEST)
        if not os.path.isfile(path):
            return cls(out, {"version": 1, "settings": fingerprint, "partitions": {}})
        with open(path) as f:
            data = json.load(f)
        if data.get("settings") != fingerprint:
            old = data.get("settings") or {}
            changed = sorted(k for k in {*old, *fingerprint} if old.get(k) != fingerprint.get(k))
            raise ConfigError(f"--out {out!r} holds a job made with other settings ({', '.join(changed)} differ): "
                              "pass a new --out, or the same settings to resume it.")
        return cls(out, data)

    @property
    def partitions(self):
        return self.data["partitions"]

    def done(self, name):
        """Whether partition `name` is recorded and its file is there."""
        entry = self.partitions.get(name)
        return entry is not None and os.path.isfile(os.path.join(self.out, entry["raw"] or entry["file"]))

    def record(self, name, entry):
        self.partitions[name] = entry
        self.save()

    def save(self):
        path = os.path.join(self.out, MANIFEST)
        with open(f"{path}.tmp", "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(f"{path}.tmp", path)

    def statistics(self):
        """`{"count", "mean", "std"}` of the raw embeddings of every
        partition, from their float64 sums (what `embedding_statistics`
        gives for one table)."""
        entries = [e for e in self.partitions.values() if e.get("rows")]
        count = sum(e["rows"] for e in entries)
        if not count:
            from astromer.errors import DataError

            raise DataError(f"No partition of the job in {self.out!r} has an embedded light curve: nothing to "
                            "standardise (see its report.json).")
        total = np.sum([e["sum"] for e in entries], axis=0)
        squares = np.sum([e["sum_sq"] for e in entries], axis=0)
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
        return {"count": int(count), "mean": mean.tolist(), "std": std.tolist()}

    def merged_reports(self):
        """The cleaning reports of every partition as one `CleaningReport`,
        and their feature reports as one dict (counts added)."""
        from astromer.data.cleaning import CleaningReport

        cleaning, features = CleaningReport(), None
        for entry in self.partitions.values():
            if entry.get("cleaning"):
                cleaning.merge(CleaningReport(**entry["cleaning"]))
            if entry.get("features"):
                features = _add_features(features, entry["features"])
        return cleaning, features

    def peak_memory(self):
        """The peak resident memory (MiB) of each worker process that ran a
        task, as the tasks measured it (`ru_maxrss`)."""
        peaks = {}
        for entry in self.partitions.values():
            key = f"{entry.get('worker')} (pid {entry.get('pid')})"
            peaks[key] = max(peaks.get(key, 0.0), entry.get("peak_rss_mb", 0.0))
        return peaks


def _add_features(total, report):
    """Feature reports of two sets of partitions added (counts summed)."""
    if total is None:
        return json.loads(json.dumps(report))
    total["light_curves"] += report["light_curves"]
    total["objects_with_nan"] += report["objects_with_nan"]
    for key in ("missing_band", "rows_dropped", "nan_by_feature"):
        for name, n in report[key].items():
            total[key][name] = total[key].get(name, 0) + n
    return total
