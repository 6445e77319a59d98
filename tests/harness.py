"""The tests' shared harness, so that a test file says what it checks and
not how to build a model or run a command:

- `tiny_backbone` / `tiny_pretrainer`: the one tiny-model factory (one block
  of 2 heads x 4, FFN 8);
- `run_layer_test` / `run_backbone_test`: what every layer and backbone must
  do (config round trip with every constructor argument, serialization,
  `.keras` and `.weights.h5` round trips with identical outputs, dtype);
- `run_cli(main, argv)`: a command's `main` in this process, for argument,
  error and workflow tests (no TensorFlow start-up of 5-10 s per call);
- `run_process` / `run_fresh`: a new Python process, only where the process
  is what a test is about (framework imports, start-up lines, kills,
  backends, several processes);
- `tiny_preset`, `write_light_curves`: the small runs and tables the
  workflow tests train on.
"""

import contextlib
import functools
import inspect
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# The smallest model the tests train: one block of 2 heads x 4, FFN 8.
TINY_SIZES = {"astromer": dict(num_layers=1, num_heads=2, head_dim=4, ff_dim=8),
              "astroco": dict(num_layers=1, num_heads=2, head_dim=4)}


# ------------------------------------------------------------------ models

def tiny_backbone(window_size=16, kind="astromer", seed=None, **overrides):
    """An `AstromerBackbone` (`kind="astroco"`: an `AstroCoBackbone`) of
    TINY_SIZES; `overrides` replace any constructor argument (dropout keeps
    the class default unless given). `seed` seeds Keras first, for weights
    a test compares across calls."""
    import keras

    from astromer.models.astroco_backbone import AstroCoBackbone
    from astromer.models.astromer_backbone import AstromerBackbone

    if seed is not None:
        keras.utils.set_random_seed(seed)
    cls = {"astromer": AstromerBackbone, "astroco": AstroCoBackbone}[kind]
    return cls(**{**TINY_SIZES[kind], "window_size": window_size, **overrides})


def tiny_pretrainer(window_size=16, seed=None, uncertainty_weighted=False, **overrides):
    """A `Pretrainer` on `tiny_backbone(window_size, seed=seed, **overrides)`."""
    from astromer.models.pretrainer import Pretrainer

    return Pretrainer(tiny_backbone(window_size, seed=seed, **overrides), uncertainty_weighted=uncertainty_weighted)


def _numpy(x):
    import keras

    if isinstance(x, dict):
        return {k: _numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_numpy(v) for v in x]
    return keras.ops.convert_to_numpy(x)


def _flat(outputs):
    """Nested dicts/lists of tensors as one float64 vector."""
    outputs = _numpy(outputs)
    if isinstance(outputs, dict):
        outputs = [outputs[k] for k in sorted(outputs)]
    if isinstance(outputs, list):
        return np.concatenate([_flat(o) for o in outputs]) if outputs else np.zeros(0)
    return np.asarray(outputs, np.float64).ravel()


def assert_same_outputs(actual, expected, atol=0.0):
    """Nested dicts/lists of tensors equal (`atol` 0: bit for bit)."""
    actual, expected = _numpy(actual), _numpy(expected)
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected), (sorted(actual), sorted(expected))
        for key in expected:
            assert_same_outputs(actual[key], expected[key], atol)
    elif isinstance(expected, list):
        assert len(actual) == len(expected)
        for a, b in zip(actual, expected):
            assert_same_outputs(a, b, atol)
    elif atol:
        np.testing.assert_allclose(actual, expected, atol=atol)
    else:
        np.testing.assert_array_equal(actual, expected)


def check_config(obj, every_argument=True):
    """`from_config(get_config())` gives the same config, and (with
    `every_argument`) every constructor argument is in it. Returns the
    clone."""
    config = obj.get_config()
    clone = type(obj).from_config(config)
    assert clone.get_config() == config
    if every_argument:
        arguments = set(inspect.signature(type(obj).__init__).parameters) - {"self", "kwargs"}
        assert arguments <= set(config), sorted(arguments - set(config))
    return clone


def run_layer_test(layer, inputs=None, call_kwargs=None, expected_dtype=None, every_argument=True):
    """What every layer must do: config round trip (every constructor
    argument in it), a Keras serialization round trip to the same type
    and config, and, given `inputs` (called as `layer(inputs,
    **call_kwargs)`), a copy with the same weights giving identical outputs
    of dtype `expected_dtype` (when given). Returns the outputs."""
    import keras

    clone = check_config(layer, every_argument)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == layer.get_config()
    if inputs is None:
        return None
    call_kwargs = call_kwargs or {}
    outputs = layer(inputs, **call_kwargs)
    clone(inputs, **call_kwargs)  # builds its weights
    clone.set_weights(layer.get_weights())
    assert_same_outputs(clone(inputs, **call_kwargs), outputs)
    if expected_dtype is not None:
        for out in (outputs if isinstance(outputs, (list, tuple)) else [outputs]):
            assert keras.backend.standardize_dtype(out.dtype) == expected_dtype
    return outputs


def run_backbone_test(backbone, inputs, tmp_path, every_argument=True):
    """What every backbone (or task on one) must do: config round trip
    with every constructor argument, `.keras` round trip to the same class
    and config with identical outputs, and a `.weights.h5` round trip into
    a freshly built copy (whose own weights gave other outputs). Returns
    the outputs and the loaded model."""
    import keras

    check_config(backbone, every_argument)
    expected = backbone.predict_on_batch(inputs)
    path = Path(tmp_path) / f"{backbone.name}.keras"
    backbone.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(backbone) and loaded.get_config() == backbone.get_config()
    assert_same_outputs(loaded.predict_on_batch(inputs), expected)
    other = type(backbone).from_config(backbone.get_config())
    # Its own weights give other outputs: the check below means something.
    assert not np.allclose(_flat(other.predict_on_batch(inputs)), _flat(expected))
    backbone.save_weights(Path(tmp_path) / "weights.weights.h5")
    other.load_weights(Path(tmp_path) / "weights.weights.h5")
    assert_same_outputs(other.predict_on_batch(inputs), expected)
    return expected, loaded


# ---------------------------------------------------------------- commands

class CliResult(NamedTuple):
    """What a command gave: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def working_directory(path):
    """`cd path` for the block (contextlib.chdir is Python >= 3.11)."""
    if path is None:
        yield
        return
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


class _Into(logging.Handler):
    """Log records, formatted as Python's last-resort handler does."""

    def __init__(self, stream):
        super().__init__(logging.WARNING)
        self.stream = stream

    def emit(self, record):
        self.stream.write(self.format(record) + "\n")


def run_cli(main, argv, cwd=None):
    """`main(argv)` of a console script in this process, with stdout,
    stderr, warnings and log records (WARNING and up) captured as a
    process's stdout and stderr would hold them. Returns
    CliResult(returncode, stdout, stderr); an argparse error or sys.exit
    gives its exit code as in a process.

    For what the process itself does not change: arguments, user errors,
    the files a run writes. A test about framework imports, TensorFlow's
    start-up lines (written below Python), signals or process-wide
    settings (`--deterministic`) uses `run_process`."""
    out, err = io.StringIO(), io.StringIO()
    handler = _Into(err)
    loggers = [logging.getLogger()] + [logging.getLogger(name) for name in ("tensorflow", "absl")
                                       if not logging.getLogger(name).propagate]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with working_directory(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings(record=True) as caught:
            # A process shows each warning once per place, deprecations aside.
            warnings.simplefilter("default")
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exit_:
                code = exit_.code
                if isinstance(code, str):
                    print(code, file=sys.stderr)
                    code = 1
            for w in caught:
                err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line))
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    return CliResult(0 if code is None else int(code), out.getvalue(), err.getvalue())


@functools.lru_cache(maxsize=None)
def script_main(path):
    """The `main` of a script that is not a module (pipelines/*.py), loaded
    once."""
    import importlib.util

    path = ROOT / path
    spec = importlib.util.spec_from_file_location(f"_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def process_env(env=None):
    """os.environ with the repository importable and `env` applied (a
    value of None removes the variable)."""
    merged = dict(os.environ, PYTHONPATH=str(ROOT))
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def run_process(module, argv=(), cwd=None, env=None, timeout=600, popen=False):
    """`python -m module ARGV` (or `python SCRIPT.py ARGV`) in a new process,
    output captured as text; `popen`: started and returned at once (a
    subprocess.Popen, unbuffered, for tests that kill it). For what only a
    process shows: its imports, TensorFlow's start-up lines, its exit
    after a signal, its backend (`env={"KERAS_BACKEND": ...}`)."""
    command = [sys.executable, *([module] if str(module).endswith(".py") else ["-m", module]),
               *[str(a) for a in argv]]
    if popen:
        return subprocess.Popen(command, cwd=cwd, env=process_env({"PYTHONUNBUFFERED": "1", **(env or {})}),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=cwd, env=process_env(env), capture_output=True, text=True, timeout=timeout)


class FreshResult(NamedTuple):
    """A `run_fresh` process: exit code, output, and the function's value."""

    returncode: int
    stdout: str
    stderr: str
    value: Any


_VALUE = "HARNESS-VALUE "


def run_fresh(function, *args, cwd=None, env=None, timeout=600):
    """Runs `function(*args)` in a new Python process and returns
    FreshResult(returncode, stdout, stderr, value) with the function's
    (JSON) return value. Only the function's own source runs there: it
    imports what it needs inside itself, before or after whatever it
    blocks (e.g. `sys.modules["tensorflow"] = None`), and sees none of its
    module's globals. For tests about a process: what it imports, its
    backend (`env={"KERAS_BACKEND": ...}`), its devices, its memory."""
    source = textwrap.dedent(inspect.getsource(function))
    program = (f"{source}\n"
               "import json as _json, sys as _sys\n"
               f"_value = {function.__name__}(*_json.loads(_sys.argv[1]))\n"
               f"print({_VALUE!r} + _json.dumps(_value))\n")
    out = subprocess.run([sys.executable, "-c", program, json.dumps([str(a) if isinstance(a, Path) else a
                                                                     for a in args])],
                         cwd=cwd, env=process_env(env), capture_output=True, text=True, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith(_VALUE)]
    value = json.loads(lines[-1][len(_VALUE):]) if lines else None
    return FreshResult(out.returncode, out.stdout, out.stderr, value)


# ------------------------------------------------------------ data and runs

def write_light_curves(path, light_curves, bands=False):
    """`light_curves` (LightCurve objects) as a table (id, time, mag, err,
    and band with `bands`) at `path` (.parquet or .csv); returns the path
    as a string."""
    import pandas as pd

    columns = ["id", "time", "mag", "err"] + (["band"] if bands else [])
    rows = [row for lc in light_curves
            for row in zip([lc.id] * len(lc.time), lc.time, lc.mag, lc.err, *([lc.band] if bands else []))]
    frame = pd.DataFrame(rows, columns=columns)
    if str(path).endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return str(path)


def tiny_preset(folder, epochs=4, light_curves=160, batch=16, extra=None):
    """The a1 preset on a tiny model (1 block of 2 heads x 8, window 48) and
    a demo survey of `light_curves` curves, written to folder/tiny.yaml;
    `extra`: more pretraining settings. Returns the path."""
    import yaml

    from astromer import presets

    config = presets.load_preset("a1")
    config["name"] = "tiny"
    config["model"].update(num_layers=1, num_heads=2, head_dim=8, ff_dim=16, window_size=48, dropout=0.1)
    config["pretraining"].update(learning_rate=3e-3, batch_size=batch, epochs=epochs, patience=50)
    config["demo"] = {"light_curves": light_curves, "seed": 1, "pretraining.batch_size": batch,
                      "pretraining.epochs": epochs}
    for key, value in (extra or {}).items():
        config["pretraining"][key] = value
    path = Path(folder) / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
