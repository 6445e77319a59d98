"""What every command does once its arguments are read: the `--verbose`
option, checking the input paths, and starting Keras (and TensorFlow)
without their start-up lines.

TensorFlow 2.21 writes its start-up lines (oneDNN, CUDA drivers, CPU
instructions, `cuInit` failing on a machine without a GPU) through absl
before absl's logging is initialised, which ignores TF_CPP_MIN_LOG_LEVEL; so
the only way to keep them off a user's terminal is to hold stderr while
TensorFlow loads and finds its devices. On the JAX and torch backends
TensorFlow loads later, when a command reads an original checkpoint or
TFRecords (or not at all): its import is held quiet then, whenever it comes,
rather than loaded up front (seconds a command may not need). `--verbose`
shows them again.
"""

import argparse
import contextlib
import importlib.abc
import importlib.machinery
import os
import sys


def new_parser(prog, doc):
    """The command's parser, its module docstring as the --help text."""
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


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


# Options that name files or folders to read.
INPUT_OPTIONS = ("data", "labels", "splits", "periods")


def check_inputs(args):
    """Checks, before the frameworks take seconds to start, the paths a
    command was given: `args.weights` (see `astromer.weights_path`),
    `args.statistics` (an `astromer-embed` statistics file) and that the
    input files (`--data`, `--labels`, `--splits`, `--periods`) exist, where
    `args` has them. A wrong one raises the one-line error naming it and
    what to pass instead (its readers check the rest later)."""
    from astromer.weights_path import missing_path

    for option in INPUT_OPTIONS:
        given = getattr(args, option, None)
        if given is not None and not os.path.exists(given):
            raise FileNotFoundError(missing_path(f"--{option}", given, "check the path"))
    weights = getattr(args, "weights", None)
    if weights is not None:
        from astromer.weights_path import resolve_weights_path

        resolve_weights_path(weights, getattr(args, "preset", None))
    statistics = getattr(args, "statistics", None)
    if statistics is not None:
        from astromer.core.standardize import read_statistics

        read_statistics(statistics)


def start_frameworks(verbose=False):
    """Imports Keras and its backend (and, with TensorFlow, lists its devices,
    which is when CUDA is probed) quietly unless `verbose`. A failing import
    raises after stderr is back, so its traceback shows."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_to_devnull():
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
    # (JAX's devices are not listed here: a JAX cluster must join, with
    # jax.distributed.initialize, before JAX first looks for them.)
    if backend != "tensorflow":
        _quiet_import("tensorflow")
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


def _quiet_import(name):
    """Holds stderr (file descriptor 2) while the top-level module `name` is
    first imported, whenever that happens later in this process."""
    if name in sys.modules or any(isinstance(f, _QuietImport) and f.name == name for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietImport(name))


class _QuietImport(importlib.abc.MetaPathFinder):
    """Import hook: finds `name` as the other finders do, with a loader that
    runs the module's code with stderr held (`_stderr_to_devnull`); then
    takes itself out of `sys.meta_path`."""

    def __init__(self, name):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """`loader` with the module's code run quietly; the module keeps
    `loader` as its own once loaded."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        with _stderr_to_devnull():
            self.loader.exec_module(module)
