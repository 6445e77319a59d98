"""`astromer-embed --features` on one table, without Dask: the survey's
per-partition task on the whole table as its one partition, written to one
Parquet file (embeddings standardised with the table's own statistics,
saved to `<out>.stats.json`, as `astromer-embed` does)."""

import json
import os

import numpy as np

from astromer.survey.partitions import write_partition
from astromer.survey.task import embed_partition


def run_table(job):
    """Runs the task of `job.survey` on the table `job.data` into the file
    `job.out`; returns `(rows written, cleaning report, feature report)`.
    The table is read into memory (the features need all of it; for larger
    tables use a partitioned job)."""
    from astromer.core.standardize import standardizer, statistics_path, write_statistics
    from astromer.data.cleaning import CleaningReport

    frame, report = embed_partition(job.data, job.survey)
    own = job.standardize and job.survey.embed and job.survey.statistics is None
    if own and len(frame):
        x = np.stack(frame["embedding"].to_list()).astype(np.float64)
        mean = x.mean(0)
        std = np.sqrt(np.maximum((x * x).sum(0) / len(x) - mean * mean, 0.0))
        stats = {"count": len(x), "mean": mean.tolist(), "std": std.tolist()}
        write_statistics(stats, statistics_path(job.out), source=str(job.data))
        frame["embedding"] = list(standardizer(stats)(x).astype(np.float32))
    write_partition(frame, job.out)
    with open(f"{job.out}.report.json", "w") as f:
        json.dump({k: report.get(k) for k in ("cleaning", "features", "peak_rss_mb")}, f, indent=1)
    cleaning = CleaningReport(**report["cleaning"]) if report.get("cleaning") else None
    return len(frame), cleaning, report.get("features")


def is_table(path):
    """A single table (a file), not a folder of partitions."""
    return not os.path.isdir(os.fspath(path))
