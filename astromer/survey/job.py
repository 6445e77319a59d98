"""A survey job on `dask.distributed`: every partition of the input through
the per-partition task (`worker.run_partition`), one output file per
partition in `out`, a manifest, resume, merged reports and progress.

    from astromer.survey import SurveySettings
    from astromer.survey.job import JobSettings, run
    run(JobSettings("lightcurves/", "embeddings/", SurveySettings(weights="runs/a2"), workers=2))

Dask does the scheduling and the retries: a worker lost mid-task has its
task run again on another (the scheduler's `allowed_failures`); tasks write
their file atomically, and only the client records a partition as done, so
each object is written once whatever reruns.
"""

import contextlib
import dataclasses
import logging
import os
import sys
import time
import uuid
from typing import Callable, NamedTuple

from astromer.errors import ConfigError, DataError
from astromer.survey.manifest import REPORT, STATISTICS, Manifest
from astromer.survey.partitions import find_partitions, output_file
from astromer.survey.task import SurveySettings


@dataclasses.dataclass
class JobSettings:
    """A job: `data` (a folder of Parquet files or a HATS catalogue) to
    `out` (a folder). `workers`: start a local cluster of that many worker
    processes (one thread each, on 127.0.0.1); `scheduler`: join an existing
    cluster at this address instead. `standardize`: standardise the
    embeddings with the statistics of all partitions (written to
    `<out>/stats.json`) once every partition is done. `on_partition`: a
    hook called as `on_partition(client, name, entry)` after each partition
    is recorded (tests use it to kill a worker mid-run)."""

    data: str
    out: str
    survey: SurveySettings
    workers: int = None
    scheduler: str = None
    standardize: bool = True
    progress: bool = True
    on_partition: Callable = None

    def fingerprint(self):
        own = self.standardize and self.survey.embed and self.survey.statistics is None
        return {**self.survey.fingerprint(), "standardize": "own" if own else bool(self.survey.statistics)}


class JobResult(NamedTuple):
    """What a job did: partitions in the input, those computed by this run
    (the rest were done before), light curves written in all, the merged
    cleaning report and feature report, and the manifest."""

    partitions: int
    computed: list
    light_curves: int
    cleaning: object
    features: dict
    manifest: Manifest


@contextlib.contextmanager
def dask_client(workers=None, scheduler=None):
    """A `distributed.Client` on a new `LocalCluster` of `workers` processes
    (one thread each, on 127.0.0.1, the dashboard on a free port), or on the cluster at
    `scheduler`; closed (and the local cluster stopped) on exit."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # inherited by the worker processes
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    if not workers or workers < 1:
        raise ConfigError(f"--workers {workers!r}: give a number of worker processes >= 1, or --scheduler ADDRESS.")
    with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def run(job):
    """Runs `job`; returns a `JobResult`. One-line errors (`ConfigError`,
    `DataError`) for a missing or empty input and for an `out` made with
    other settings, before any cluster starts."""
    partitions = find_partitions(job.data)
    if os.path.isfile(job.out):
        raise ConfigError(f"--out {job.out!r} is a file: a partitioned job writes a folder (one file per partition).")
    os.makedirs(job.out, exist_ok=True)
    manifest = Manifest.open(job.out, job.fingerprint())
    names = {p.name for p in partitions}
    new = names - set(manifest.partitions)
    if manifest.data.get("statistics") and new:
        raise ConfigError(f"--out {job.out!r} is finished and standardised with the statistics of its "
                          f"{len(manifest.partitions):,} partitions; the input has {len(new):,} new ones: pass a "
                          "new --out (with --statistics OUT/stats.json to compare them).")
    todo = [p for p in partitions if not manifest.done(p.name)]
    computed = []
    own_statistics = job.fingerprint()["standardize"] == "own"
    if todo or (own_statistics and not manifest.data.get("statistics")):
        with dask_client(job.workers, job.scheduler) as client:
            survey = resolve_features(client, partitions, job.survey, manifest)
            computed = _embed(client, todo, survey, manifest, job, own_statistics)
            if own_statistics:
                _standardize(client, manifest, job)
    cleaning, features = manifest.merged_reports()
    _write_report(manifest, cleaning, features)
    count = sum(manifest.partitions[p.name]["rows"] for p in partitions)
    return JobResult(len(partitions), computed, count, cleaning, features, manifest)


def resolve_features(client, partitions, survey, manifest):
    """`survey` with the bands and periodogram baseline every partition
    shares: given, recorded by an earlier run of this job, or found by a
    first pass over all partitions (their bands' union, their longest
    span; no model)."""
    if not survey.features or (survey.max_baseline is not None and survey.bands is not None):
        return survey
    if "resolved" not in manifest.data:
        from astromer.survey.worker import partition_extent

        futures = client.map(partition_extent, [p.source for p in partitions], bands=survey.bands,
                             key=[f"extent-{p.name}-{uuid.uuid4().hex}" for p in partitions])
        extents = client.gather(futures)
        bands = sorted({b for found, _ in extents for b in found})
        span = max(s for _, s in extents)
        if survey.max_baseline is None and not span > 0:
            raise DataError("No light curve of the job has two observations at different times: the periodogram "
                            "needs a time span (pass --max-baseline).")
        manifest.data["resolved"] = {"bands": survey.bands or bands or None,
                                     "max_baseline": survey.max_baseline or span}
        manifest.save()
    resolved = manifest.data["resolved"]
    return dataclasses.replace(survey, bands=None if resolved["bands"] is None else tuple(resolved["bands"]),
                               max_baseline=resolved["max_baseline"])


def _embed(client, todo, survey, manifest, job, sums):
    from distributed import as_completed

    from astromer.survey.worker import run_partition

    progress = JobProgress(len(manifest.partitions), len(manifest.partitions) + len(todo), job.progress)
    futures = {}
    for part in todo:
        final = output_file(part.name)
        raw = final[: -len(".parquet")] + ".raw.parquet" if sums else None
        future = client.submit(run_partition, part.source, os.path.join(job.out, raw or final), survey, sums,
                               key=f"partition-{part.name}-{uuid.uuid4().hex}", pure=False)
        futures[future] = (part.name, final, raw)
    computed = []
    for future in as_completed(futures):
        name, final, raw = futures[future]
        try:
            entry = future.result()
        except Exception as error:  # the task's own error, with the partition it came from
            raise type(error)(f"partition {name!r}: {error}") from error if isinstance(error, ValueError) else error
        entry.update(file=final, raw=raw)
        manifest.record(name, entry)
        computed.append(name)
        progress.update(entry)
        if job.on_partition is not None:
            job.on_partition(client, name, entry)
    return computed


def _standardize(client, manifest, job):
    """Statistics of all partitions to `<out>/stats.json`, then each raw
    partition file standardised into its final file (on the cluster)."""
    from astromer.core.standardize import write_statistics
    from astromer.survey.worker import standardize_partition

    stats = manifest.statistics()
    path = os.path.join(job.out, STATISTICS)
    write_statistics(stats, f"{path}.tmp", source=str(job.data))
    os.replace(f"{path}.tmp", path)
    pending = {name: e for name, e in manifest.partitions.items() if e.get("raw")}
    futures = {client.submit(standardize_partition, os.path.join(job.out, e["raw"]), os.path.join(job.out, e["file"]),
                             stats, key=f"standardize-{name}-{uuid.uuid4().hex}", pure=False): name
               for name, e in pending.items()}
    from distributed import as_completed

    for future in as_completed(futures):
        name = futures[future]
        entry = manifest.partitions[name]
        done = future.result()
        raw, entry["raw"] = entry["raw"], None
        entry["peak_rss_mb"] = max(entry["peak_rss_mb"], done["peak_rss_mb"]) if done["worker"] == entry["worker"] \
            else entry["peak_rss_mb"]
        manifest.record(name, entry)
        os.remove(os.path.join(job.out, raw))  # after the manifest says the final file is complete
    manifest.data["statistics"] = STATISTICS
    manifest.save()


def summary(result, out):
    """The lines a command prints after a job: the merged cleaning and
    feature reports, what was written, and each worker's peak memory."""
    lines = [result.cleaning.summary()] if result.cleaning.light_curves_in else []
    if result.features:
        lines.append(f"features: {result.features['light_curves']:,} light curves, bands "
                     f"{result.features['bands'] or ['(single)']}, periodogram baseline "
                     f"{result.features['max_baseline']:.1f} d; {result.features['objects_with_nan']:,} with NaN "
                     "features")
    skipped = result.partitions - len(result.computed)
    lines.append(f"wrote {result.light_curves:,} rows in {result.partitions:,} partition files to {out} "
                 f"({len(result.computed):,} computed now, {skipped:,} done before; manifest {out}/manifest.json, "
                 f"report {out}/report.json)")
    peaks = result.manifest.peak_memory()
    if peaks:
        lines.append("peak memory per worker: " + ", ".join(f"{k} {v:,.0f} MiB" for k, v in sorted(peaks.items())))
    return "\n".join(lines)


def _write_report(manifest, cleaning, features):
    import json

    path = os.path.join(manifest.out, REPORT)
    with open(f"{path}.tmp", "w") as f:
        json.dump({"cleaning": dataclasses.asdict(cleaning), "features": features,
                   "peak_rss_mb_per_worker": manifest.peak_memory()}, f, indent=1)
    os.replace(f"{path}.tmp", path)


class JobProgress:
    """One line per finished partition on stderr: partitions and light
    curves done, rate and time left (from this run's rate)."""

    def __init__(self, done, total, enabled=True):
        self.done, self.total, self.enabled = done, total, enabled
        self.start_done, self.light_curves, self.started = done, 0, time.monotonic()

    def update(self, entry):
        self.done += 1
        self.light_curves += entry.get("light_curves", 0)
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        ran = self.done - self.start_done
        left = elapsed / ran * (self.total - self.done)
        print(f"survey: {self.done:,}/{self.total:,} partitions, {self.light_curves:,} light curves this run, "
              f"{self.light_curves / elapsed:,.1f} light curves/s, ETA {_duration(left)}", file=sys.stderr,
              flush=True)


def _duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"
