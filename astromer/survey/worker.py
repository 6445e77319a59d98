"""What runs on a Dask worker: a partition embedded and written, a
partition's raw file standardised, a partition's bands and time span (the
first pass of a features job). Each returns JSON-able data the job records
in its manifest; each writes its file atomically, so a task rerun after a
lost worker rewrites the same file."""

import logging
import os

import numpy as np

from astromer.survey.partitions import write_partition
from astromer.survey.task import embed_partition, peak_rss_mb


def worker_address():
    """This Dask worker's address (the process's pid outside a worker)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def worker_threads():
    """The threads of this Dask worker (None outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def quiet_frameworks():
    """Imports Keras (and TensorFlow) with file descriptor 2 held, once per
    worker process: TensorFlow writes its start-up lines (CUDA probing)
    there before its logging starts, one set per worker otherwise. The
    commands do the same in their own process (`cli.startup`)."""
    import sys

    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # TensorFlow sizes its thread pools by the machine's cores, not
            # by the worker's share: N workers on one machine would each run
            # as many threads as there are cores (oversubscribed). Before
            # any TensorFlow operation runs, the pools take the threads the
            # Dask worker was given.
            threads = worker_threads()
            if threads:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def run_partition(source, path, settings, sums=False):
    """Embeds (and/or computes features of) one partition and writes it to
    `path`. `sums`: also return the float64 sum and sum of squares of the
    embeddings per dimension (the job's statistics over all partitions).
    Returns the manifest entry of the partition."""
    # The job prints the merged cleaning report once, not one per partition.
    logging.getLogger("astromer.embedding").setLevel(logging.ERROR)
    quiet_frameworks()
    frame, report = embed_partition(source, settings)
    write_partition(frame, path)
    entry = {**report, "worker": worker_address()}
    if sums and "embedding" in frame:
        x = (np.stack(frame["embedding"].to_list()).astype(np.float64) if len(frame)
             else np.zeros((0, 0)))
        entry["sum"] = x.sum(0).tolist()
        entry["sum_sq"] = (x * x).sum(0).tolist()
    return entry


def standardize_partition(raw, path, stats):
    """Writes `path`: the partition file `raw` with its embeddings
    standardised by `stats`. `raw` is left in place (the job removes it once
    recorded), so a rerun of this task gives the same file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from astromer.core.standardize import standardizer

    table = pq.read_table(raw)
    column = table.column("embedding").to_pylist()
    if column:
        z = standardizer(stats)(np.asarray(column, np.float64)).astype(np.float32)
        values = pa.array(list(z), type=pa.list_(pa.float32()))
        table = table.set_column(table.schema.get_field_index("embedding"), "embedding", values)
    tmp = f"{path}.{os.getpid()}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return {"peak_rss_mb": peak_rss_mb(), "worker": worker_address()}


def partition_extent(source, bands=None):
    """`(bands, longest span in days)` of one partition (no model): the
    first pass of a features job without --max-baseline."""
    from astromer.core.features import bands_and_span
    from astromer.survey.task import read_partition

    return bands_and_span(read_partition(source), bands)
