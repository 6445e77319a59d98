"""Checking an exported encoder against the Keras model it came from.

`LIMITS` is the one set of tolerances (`astromer-export`'s defaults, the
tests'): `mean` 1e-4, since the pooled mean averages float rounding away;
`max` and `sequence` 1e-3, since single steps of Astromer 1 move by up to
1.6e-3 with the order of float operations alone. docs/export.md gives the
measurements behind both.
"""

import dataclasses
import os

import numpy as np

from astromer.errors import ExportCheckError


@dataclasses.dataclass(frozen=True)
class CheckLimits:
    """Largest absolute difference allowed between an exported model's
    outputs and Keras': `mean` for the pooled mean, `steps` for the
    outputs of single steps (`max`, `sequence`)."""

    mean: float = 1e-4
    steps: float = 1e-3

    def __post_init__(self):
        for name in ("mean", "steps"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise ValueError(f"The {name} limit must be a number >= 0, got {value!r}.")

    def of(self, output):
        return self.mean if output == "mean" else self.steps

    def describe(self):
        return f"mean {self.mean:g}, max and sequence {self.steps:g}"


LIMITS = CheckLimits()


def compare(got, expected, limits=LIMITS, what="the exported model"):
    """Largest |got - expected| per output of `expected` (dicts of arrays;
    `got`'s names may carry an exporter's suffix). Raises ExportCheckError
    naming every output over its limit."""
    import keras

    diffs = {}
    for name, value in expected.items():
        key = next(k for k in got if k == name or k.startswith(name))
        diffs[name] = float(np.abs(np.asarray(got[key]) - keras.ops.convert_to_numpy(value)).max())
    over = [f"{name} {d:.1e} > {limits.of(name):g}" for name, d in diffs.items() if not d <= limits.of(name)]
    if over:
        raise ExportCheckError(f"{what} differs from the Keras model by more than the limits: " + ", ".join(over)
                               + " (max |diff| " + ", ".join(f"{n} {d:.1e}" for n, d in diffs.items()) + ")")
    return diffs


def check_onnx(path, model, inputs, limits=LIMITS):
    """Runs the ONNX file at `path` under onnxruntime on `inputs` (dict of
    `(batch, steps, 1)` arrays by input name) and compares every output
    with the Keras `model`'s (`compare`). Returns the largest absolute
    difference per output."""
    import onnxruntime

    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    feed = {i.name: np.asarray(inputs[_input_key(i.name, inputs)], np.float32) for i in session.get_inputs()}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    expected = model([inputs[i.name] for i in model.inputs], training=False)
    return compare(got, expected, limits, "the ONNX file under onnxruntime")


def check_savedmodel(path, model, inputs, limits=LIMITS):
    """The SavedModel folder at `path` loaded with TensorFlow, its `serve`
    signature against the Keras `model` on `inputs` (`compare`)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(os.fspath(path))  # kept: its variables must outlive the call
    got = loaded.serve([np.asarray(inputs[i.name], np.float32) for i in model.inputs])
    expected = model([inputs[i.name] for i in model.inputs], training=False)
    return compare({k: v.numpy() for k, v in got.items()}, expected, limits, "the SavedModel")


def _input_key(name, inputs):
    # Exporters may suffix input names (e.g. "input:0").
    return name if name in inputs else name.split(":")[0]


def random_hub_inputs(hub, batch, seed=0):
    """Random windows in the hub's format: magnitudes and times centred,
    the last quarter of each window padded."""
    rng = np.random.default_rng(seed)
    steps = int(hub.inputs[0].shape[1])
    valid = np.ones((batch, steps, 1), np.float32)
    valid[:, steps - steps // 4:] = 0
    times = np.sort(rng.uniform(-500, 500, (batch, steps, 1)), axis=1)
    out = {"input": rng.normal(0, 0.3, (batch, steps, 1)) * valid, "times": times * valid, "mask_in": valid,
           "errors": np.full((batch, steps, 1), 0.05) * valid, "bands": np.zeros((batch, steps, 1))}
    return {k: v.astype(np.float32) for k, v in out.items()}
