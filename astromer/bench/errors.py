"""The one error the benchmarks raise for a run that cannot go on.

A benchmark that cannot run (a reference script that fails, no CUDA plugin
to compile for a GPU) says why in one message; `astromer-bench` prints it
and exits 1, with no traceback, since nothing in our code is wrong.
"""


class BenchError(RuntimeError):
    """A benchmark that cannot run; the message says what to do."""
