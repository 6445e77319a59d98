"""Throughput benchmarks behind `astromer-bench`, one workflow per subcommand.

    run_data    input pipelines: tf.data vs NumPy windows/s  (pipeline.py)
    run_model   training/embedding windows/s, TFLOP/s, memory (model.py)
    run_embed   catalogue embedding light curves/s, peak RSS  (embed.py)
    run_hlo     roofline estimate of a step compiled for an H100 (hlo.py)
    run_original  embedding speed against the original library (original.py)

Each prints one JSON row per measurement as soon as it is made and returns
the rows. What they share: the rows' environment fields (environment.py),
the synthetic workload and its FLOPs (workload.py), how timed steps run
(steps.py), the PyTorch reference run side by side (reference.py), kernel
breakdowns of profiler traces (profiling.py) and of compiled programs
(roofline.py). TensorFlow, JAX and PyTorch are imported inside the
functions that use them.
"""

from astromer.bench.embed import run_embed
from astromer.bench.errors import BenchError
from astromer.bench.hlo import run_hlo
from astromer.bench.model import run_model
from astromer.bench.original import run_original
from astromer.bench.pipeline import run_data

__all__ = ["BenchError", "run_data", "run_embed", "run_hlo", "run_model", "run_original"]
