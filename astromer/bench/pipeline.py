"""`astromer-bench data`: windows/s of the two input pipelines.

Pretraining windows with probe masks, through the tf.data path (TFRecords)
and the NumPy path (`NumpyWindowDataset` read by a thread pool), for each
thread count asked for. Without a table or record folder, a simulated
survey is written to a temporary folder first.
"""

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from astromer.bench.environment import emit, environment


def _sources(data, light_curves, paths, workdir):
    """(records path or None, PackedLightCurves or None): what each path reads.

    Records are written (simulated survey) or read (a record folder for the
    NumPy path) only when a path needs them.
    """
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.demo import simulate_survey
    from astromer.data.lightcurves import iter_light_curves

    if data is None:
        lcs = simulate_survey(light_curves, seed=0)
        packed = PackedLightCurves.from_light_curves(lcs)
        records = None
        if "tf" in paths:
            from astromer.data.records import write_records

            records = os.path.join(workdir, "records")
            write_records(lcs, records, splits={"train": 1.0}, shards=8)
        return records, packed
    if os.path.isdir(data) and any(
        f.endswith((".record", ".tfrecord")) for _, _, fs in os.walk(data) for f in fs
    ):
        packed = None
        if "numpy" in paths:
            from astromer.data.records import read_records

            packed = PackedLightCurves.from_light_curves(read_records(data))
        return data, packed
    return None, PackedLightCurves.from_light_curves(iter_light_curves(data))


def bench_tf(records, config, settings, threads):
    """Windows/s of the tf.data pipeline on `threads` threads (0: all cores),
    `settings.steps` batches after `settings.warmup`."""
    import tensorflow as tf

    from astromer.data.tf_dataset import tf_dataset

    options = tf.data.Options()
    options.threading.private_threadpool_size = threads or os.cpu_count()
    options.threading.max_intra_op_parallelism = 1
    ds, _ = tf_dataset(records, config, settings.batch, mode="pretrain", epochs=10**6, options=options)
    iterator = iter(ds)
    for _ in range(settings.warmup):
        next(iterator)
    start = time.perf_counter()
    windows = 0
    for _ in range(settings.steps):
        x, _ = next(iterator)
        windows += int(x["magnitudes"].shape[0])
    return windows / (time.perf_counter() - start)


def bench_numpy(packed, config, settings, threads):
    """Windows/s of the NumPy pipeline read by `threads` threads (0: all
    cores), `settings.steps` batches after `settings.warmup`."""
    from astromer.data.datasets import NumpyWindowDataset

    data = NumpyWindowDataset(packed, config, settings.batch, mode="pretrain")
    n = len(data)
    for i in range(settings.warmup):
        data[i % n]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count()) as pool:
        batches = list(pool.map(lambda i: data[i % n], range(settings.steps)))
    elapsed = time.perf_counter() - start
    return sum(int(b[0]["magnitudes"].shape[0]) for b in batches) / elapsed


def run_data(settings):
    """One row per pipeline and thread count of the `DataBench` `settings`,
    printed as it is measured; returns the rows."""
    from astromer.preprocessing import PretrainingPreprocessor

    s = settings
    config = PretrainingPreprocessor(window_size=s.window)
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        records, packed = _sources(s.data, s.light_curves, s.paths, workdir)
        for path in s.paths:
            for thread_count in s.threads:
                if path == "tf":
                    if records is None:
                        print("tf path skipped: --data is not a TFRecord folder", file=sys.stderr)
                        continue
                    rate = bench_tf(records, config, s, thread_count)
                else:
                    rate = bench_numpy(packed, config, s, thread_count)
                results.append(emit({
                    "bench": "data",
                    "path": "tf.data" if path == "tf" else "numpy",
                    "threads": thread_count or os.cpu_count(),
                    "batch": s.batch,
                    "windows_per_s": round(rate, 1),
                    "source": s.data or f"simulated:{s.light_curves}",
                    **environment(),
                }))
    return results
