"""What every benchmark row carries: the machine it ran on, peak memory,
and the row itself as one JSON line on stdout."""

import json
import os
import platform


def environment():
    """The Keras backend, CPU count and machine: fields of every row, so that
    rows from different machines and backends are not compared blindly."""
    import keras

    return {"backend": keras.backend.backend(), "cpus": os.cpu_count(), "machine": platform.machine()}


def peak_rss_bytes():
    """This process's peak resident memory (Linux reports it in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_memory_peak():
    """Peak bytes in use on the accelerator; the peak resident memory of the
    process on the CPU, where the model's memory is the process's."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                return stats["peak_bytes_in_use"]
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return tf.config.experimental.get_memory_info("GPU:0")["peak"]
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.max_memory_allocated()
    except Exception:  # memory statistics are best effort
        return None
    return peak_rss_bytes()


def emit(row):
    """Prints `row` as one JSON line, flushed at once: a run that dies later
    (out of memory at a larger batch) keeps the rows printed before."""
    print(json.dumps(row), flush=True)
    return row
