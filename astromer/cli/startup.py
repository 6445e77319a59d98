"""What every command does once its arguments are read: the `--verbose`
option, and starting Keras (and TensorFlow) without their start-up lines.

TensorFlow 2.21 writes its start-up lines (oneDNN, CUDA drivers, CPU
instructions, `cuInit` failing on a machine without a GPU) through absl
before absl's logging is initialised, which ignores TF_CPP_MIN_LOG_LEVEL; so
the only way to keep them off a user's terminal is to hold stderr while
TensorFlow loads and finds its devices. `--verbose` shows them again.
"""

import contextlib
import os
import sys


def add_verbose_option(parser):
    """--verbose, and --debug (tracebacks of errors; see astromer.cli.errors)."""
    from astromer.cli.errors import add_debug_option

    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, XLA's and absl's start-up and log lines")
    add_debug_option(parser)


@contextlib.contextmanager
def _stderr_to_devnull():
    """Points file descriptor 2 at /dev/null (C++ writes there directly,
    below Python's sys.stderr); restored however the block ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def start_frameworks(verbose=False):
    """Imports Keras and its backend (and, with TensorFlow, lists its devices,
    which is when CUDA is probed) quietly unless `verbose`. A failing import
    raises after stderr is back, so its traceback shows."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_to_devnull():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
    # Python-level messages of libraries we drive, about options we never
    # pass: keep warnings from absl's Python logger at errors only.
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)
    # The few-shot workflows build a fresh model per seed and fold, and each
    # traces its own predict step; TensorFlow then warns of "retracing" as if
    # one function were retraced in a loop. Expected here, so not shown.
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NoRetracingWarning) for f in tf_logger.filters):
        tf_logger.addFilter(_NoRetracingWarning())


class _NoRetracingWarning:
    """Logging filter dropping TensorFlow's tf.function retracing warning."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()
