"""`astromer-bench survey`: a simulated partitioned survey embedded by
`astromer-embed --workers N` (a local Dask cluster) and by one
`astromer-embed` process on the same rows, both as subprocesses (a workflow
does not import another), in one run: light curves/s of each (wall time of
the whole command, start-up included), their ratio, and the peak memory of
each worker process (from the job's manifest, measured inside the tasks)."""

import json
import os
import subprocess
import sys
import tempfile
import time

from astromer.bench.environment import emit, environment


def run_survey(settings):
    """Simulates `settings.light_curves` light curves in `settings.files`
    Parquet files, embeds them both ways; prints and returns one row."""
    from astromer.data.demo import simulate_table
    from astromer.errors import BenchError

    s = settings
    with tempfile.TemporaryDirectory() as workdir:
        import pyarrow.parquet as pq

        folder = os.path.join(workdir, "partitions")
        os.makedirs(folder)
        # One simulated table, one row group of light curves per file (ids unique across files).
        table = os.path.join(workdir, "catalogue.parquet")
        simulate_table(table, s.light_curves, seed=0, chunk=-(-s.light_curves // s.files))
        groups = pq.ParquetFile(table)
        for k in range(groups.num_row_groups):
            pq.write_table(groups.read_row_group(k), os.path.join(folder, f"part{k:04d}.parquet"))
        os.remove(table)
        weights = s.weights or _random_weights(s.preset, workdir)
        common = ["--weights", weights, "--preset", s.preset, "--batch", str(s.batch)]
        timings = {}
        for name, extra in (("one_process", ["--data", folder, "--out", os.path.join(workdir, "one.parquet")]),
                            ("dask", ["--data", folder, "--out", os.path.join(workdir, "dask"), "--workers",
                                      str(s.workers)])):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "astromer.cli.embed", *common, *extra], capture_output=True,
                                  text=True)
            timings[name] = time.perf_counter() - start
            if done.returncode:
                raise BenchError(f"astromer-embed ({name}) failed: {done.stderr.strip().splitlines()[-1:]}")
        with open(os.path.join(workdir, "dask", "manifest.json")) as f:
            entries = json.load(f)["partitions"].values()
    peaks = {}
    for e in entries:
        peaks[e["pid"]] = max(peaks.get(e["pid"], 0.0), e["peak_rss_mb"])
    rates = {k: s.light_curves / v for k, v in timings.items()}
    return emit({
        "bench": "survey",
        "preset": s.preset,
        "light_curves": s.light_curves,
        "files": s.files,
        "workers": s.workers,
        "one_process_light_curves_per_s": round(rates["one_process"], 1),
        "dask_light_curves_per_s": round(rates["dask"], 1),
        "dask_vs_one_process": round(rates["dask"] / rates["one_process"], 3),
        "one_process_seconds": round(timings["one_process"], 1),
        "dask_seconds": round(timings["dask"], 1),
        "peak_rss_mb_per_worker": sorted(round(v, 1) for v in peaks.values()),
        "batch": s.batch,
        **environment(),
    })


def _random_weights(preset, workdir):
    """The preset's randomly initialised backbone saved as `.weights.h5`
    (what `--weights ... --preset` reads)."""
    from astromer.presets import build_backbone

    path = os.path.join(workdir, "random.weights.h5")
    build_backbone(preset).save_weights(path)
    return path
