"""`astromer-bench`: throughput benchmarks with JSON output.

    astromer-bench data [--data PATH] [--batch 256] [--steps 100] [--threads 1 0]
    astromer-bench embed [--data TABLE | --light-curves 200000] [--preset a1 | --weights W]

`data` measures windows/s of the input pipelines (pretraining windows with
probe masks): the tf.data path (TFRecords) and the NumPy path. `--threads 0`
means all cores. With no `--data`, a simulated survey is written to a
temporary folder first.

`embed` streams a catalogue (by default a simulated Parquet table of
`--light-curves` objects) through `astromer-embed`'s code path and reports
light curves/s and the peak resident memory, which must not grow with the
catalogue.

One JSON object per line on stdout.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor


def _environment():
    import platform

    import keras

    return {"backend": keras.backend.backend(), "cpus": os.cpu_count(), "machine": platform.machine()}


def _sources(args, workdir):
    """(records path or None, PackedLightCurves)."""
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.demo import simulate_survey
    from astromer.data.lightcurves import iter_light_curves

    if args.data is None:
        lcs = simulate_survey(args.light_curves, seed=0)
        packed = PackedLightCurves.from_light_curves(lcs)
        records = None
        if "tf" in args.path:
            from astromer.data.records import write_records

            records = os.path.join(workdir, "records")
            write_records(lcs, records, splits={"train": 1.0}, shards=8)
        return records, packed
    if os.path.isdir(args.data) and any(
        f.endswith((".record", ".tfrecord")) for _, _, fs in os.walk(args.data) for f in fs
    ):
        packed = None
        if "numpy" in args.path:
            from astromer.data.records import read_records

            packed = PackedLightCurves.from_light_curves(read_records(args.data))
        return args.data, packed
    return None, PackedLightCurves.from_light_curves(iter_light_curves(args.data))


def bench_tf(records, args, config, threads):
    import tensorflow as tf

    from astromer.data.datasets import tf_dataset

    options = tf.data.Options()
    options.threading.private_threadpool_size = threads or os.cpu_count()
    options.threading.max_intra_op_parallelism = 1
    ds, steps = tf_dataset(records, config, args.batch, mode="pretrain", epochs=10**6, options=options)
    iterator = iter(ds)
    for _ in range(args.warmup):
        next(iterator)
    start = time.perf_counter()
    windows = 0
    for _ in range(args.steps):
        x, _ = next(iterator)
        windows += int(x["magnitudes"].shape[0])
    return windows / (time.perf_counter() - start)


def bench_numpy(packed, args, config, threads):
    from astromer.data.datasets import NumpyWindowDataset

    data = NumpyWindowDataset(packed, config, args.batch, mode="pretrain")
    n = len(data)
    for i in range(args.warmup):
        data[i % n]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count()) as pool:
        batches = list(pool.map(lambda i: data[i % n], range(args.steps)))
    elapsed = time.perf_counter() - start
    return sum(int(b[0]["magnitudes"].shape[0]) for b in batches) / elapsed


def run_data(args):
    from astromer.data.datasets import PipelineConfig

    config = PipelineConfig(window_size=args.window)
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        records, packed = _sources(args, workdir)
        for path in args.path:
            for threads in args.threads:
                if path == "tf":
                    if records is None:
                        print("tf path skipped: --data is not a TFRecord folder", file=sys.stderr)
                        continue
                    rate = bench_tf(records, args, config, threads)
                else:
                    rate = bench_numpy(packed, args, config, threads)
                result = {
                    "bench": "data",
                    "path": "tf.data" if path == "tf" else "numpy",
                    "threads": threads or os.cpu_count(),
                    "batch": args.batch,
                    "windows_per_s": round(rate, 1),
                    "source": args.data or f"simulated:{args.light_curves}",
                    **_environment(),
                }
                print(json.dumps(result), flush=True)
                results.append(result)
    return results


def run_embed(args):
    import resource

    from astromer.data.demo import simulate_table
    from astromer.models.embedder import Embedder

    with tempfile.TemporaryDirectory() as workdir:
        source = args.data
        if source is None:
            source = os.path.join(workdir, "catalogue.parquet")
            simulate_table(source, args.light_curves, seed=0)
        if args.weights:
            embedder = Embedder.from_weights(args.weights, preset=args.preset, batch_size=args.batch)
        else:
            embedder = Embedder.from_preset(args.preset, batch_size=args.batch)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        count = embedder.write_parquet(source, os.path.join(workdir, "embeddings.parquet"), progress=args.progress)
        elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "bench": "embed",
        "preset": args.preset,
        "light_curves": count,
        "light_curves_per_s": round(count / elapsed, 1),
        "seconds": round(elapsed, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_rss_before_embedding_mb": round(rss_before, 1),
        "batch": args.batch,
        "source": args.data or f"simulated:{args.light_curves}",
        **_environment(),
    }
    print(json.dumps(result), flush=True)
    return result


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="astromer-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    data = sub.add_parser("data", help="input pipeline windows/s")
    data.add_argument("--data", help="TFRecord folder or Parquet/CSV table (default: simulated)")
    data.add_argument("--light-curves", type=int, default=3000, help="simulated light curves")
    data.add_argument("--batch", type=int, default=256)
    data.add_argument("--window", type=int, default=200)
    data.add_argument("--steps", type=int, default=100)
    data.add_argument("--warmup", type=int, default=5)
    data.add_argument("--threads", type=int, nargs="+", default=[1, 0], help="0 = all cores")
    data.add_argument("--path", nargs="+", choices=("tf", "numpy"), default=["tf", "numpy"])
    embed = sub.add_parser("embed", help="embedding throughput and peak memory")
    embed.add_argument("--data", help="Parquet/CSV table (default: simulated)")
    embed.add_argument("--light-curves", type=int, default=20000, help="simulated light curves")
    embed.add_argument("--preset", default="a1")
    embed.add_argument("--weights", help="weights (default: the preset's random initialisation)")
    embed.add_argument("--batch", type=int, default=256)
    embed.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "data":
        run_data(args)
    elif args.what == "embed":
        run_embed(args)


if __name__ == "__main__":
    main()
