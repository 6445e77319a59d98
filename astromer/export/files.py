"""Writing an exported encoder: `export_model` (ONNX or SavedModel) and
`run(ExportSettings)` (what `astromer-export` does: export to a temporary
name beside `out`, check, and only then rename)."""

import dataclasses
import os
import shutil
import tempfile
import warnings

import numpy as np

from astromer.errors import ConfigError, ExportCheckError
from astromer.export.checks import LIMITS, CheckLimits, check_onnx, check_savedmodel, random_hub_inputs

FORMATS = ("onnx", "savedmodel")


def export_model(backbone, out, format="onnx"):
    """Exports `hub_model(backbone)` to `out`: an ONNX file (dynamic batch,
    through Keras' exporter: tf2onnx under TensorFlow) or a TensorFlow
    SavedModel folder, with the preprocessor that makes its inputs saved in
    it (`metadata.save_preprocessor`). Raises ValueError naming the layer
    when a layer has no ONNX equivalent. Returns the Keras hub model."""
    from astromer.export.hub import hub_model
    from astromer.export.metadata import save_preprocessor
    from astromer.preprocessing.hub import HubPreprocessor

    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; use one of {FORMATS}.")
    model = hub_model(backbone)
    # Keras exports only a model that has run once.
    model([np.ones((1,) + tuple(i.shape[1:]), np.float32) for i in model.inputs], training=False)
    try:
        if format == "onnx":
            from astromer.export import onnx_ops

            onnx_ops.register()  # AstroCo's exact GELU (Erfc) as 1 - Erf
            with warnings.catch_warnings():
                # Keras' tf2onnx patch probes `np.object`, which NumPy 2 warns about.
                warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
                model.export(os.fspath(out), format="onnx", verbose=False)
        else:
            model.export(os.fspath(out), format="tf_saved_model", verbose=False)
    except ImportError as error:
        raise ValueError(f"Exporting to {format} needs {error.name or 'a missing package'}: "
                         "pip install 'astromer[export]'.") from error
    except Exception as error:  # noqa: BLE001 - named, then re-raised with the layer
        layer = _layer_in(str(error), model)
        raise ValueError(f"Cannot export to {format}: {error}" + (f" (layer {layer!r})" if layer else "")) from error
    if format == "onnx":
        _check_loads(out, model)
    # compat "auto": the windows astromer-embed reads these weights with
    save_preprocessor(out, HubPreprocessor.from_backbone(backbone, compat="auto"), format)
    return model


def _check_loads(path, model):
    """An exported graph that ONNX Runtime refuses (an operation with no
    ONNX equivalent) is removed and reported with the layer it comes from."""
    try:
        import onnxruntime
    except ImportError:
        return
    try:
        onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        os.remove(path)
        layer = _layer_in(str(error), model)
        raise ValueError("The exported ONNX graph does not load in onnxruntime"
                         + (f": layer {layer!r} has an operation with no ONNX equivalent" if layer else "")
                         + f" ({str(error)[:300]}).") from None


def _layer_in(message, model):
    """The innermost layer named in an exporter's message (exported node
    names are paths of layer names, e.g. ".../input_embedding_1/fusion_1/
    Gelu/Erfc"; Keras adds the "_1" call suffixes)."""
    import re

    names = {layer.name for layer in model._flatten_layers(include_self=False) if layer.name}
    found = None
    for part in re.split(r"[/\s\"'(),]+", message):
        name = re.sub(r"_\d+$", "", part)
        if part in names or name in names:
            found = part if part in names else name
    return found


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """What `astromer-export` does, as data: the encoder of `weights` (any
    saved form; a `.weights.h5` with `preset`) written to `out` as `format`,
    checked on `check_batch` random windows within `limits`."""

    weights: str
    out: str
    format: str = "onnx"
    preset: str = None
    check_batch: int = 4
    limits: CheckLimits = LIMITS


def run(settings):
    """Exports to a temporary name in `out`'s folder, checks the file
    against the Keras model (ONNX under onnxruntime; a SavedModel loaded back
    with TensorFlow) and only then renames it to `out` (replacing an earlier
    export). Nothing is left at `out` or beside it when anything fails.
    Returns a one-line report; raises `ExportCheckError` when the check
    fails."""
    from astromer.core.loading import load_backbone

    format, batch, limits = settings.format, settings.check_batch, settings.limits
    given, out = os.fspath(settings.out), os.path.abspath(os.fspath(settings.out))
    _check_destination(given, out, format)
    backbone = load_backbone(settings.weights, settings.preset)
    created = _make_folder(os.path.dirname(out))
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", suffix=".partial", dir=os.path.dirname(out))
    done = False
    try:
        written = os.path.join(staging, os.path.basename(out))
        hub = export_model(backbone, written, format)
        diffs = _check(written, hub, settings, given)
        if os.path.isdir(out):  # an earlier SavedModel (`_check_destination`): moved aside, then deleted
            os.replace(out, os.path.join(staging, "replaced"))
        os.replace(written, out)
        done = True
    finally:
        # Also on Ctrl-C: neither a partial file nor a folder made for it stays.
        shutil.rmtree(staging, ignore_errors=True)
        for folder in [] if done else created:
            try:
                os.rmdir(folder)
            except OSError:
                break
    what = "ONNX" if format == "onnx" else "SavedModel; serving signature with the hub's inputs and outputs"
    if diffs is None:
        return f"wrote {given} ({what}; onnxruntime not installed: not checked)"
    checker = "onnxruntime" if format == "onnx" else "TensorFlow"
    return (f"wrote {given} ({what}); {checker} vs Keras on {batch} random windows: max |diff| "
            + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()) + f" (limits {limits.describe()})")


def _check(written, hub, settings, given):
    """The written file against `hub` on random windows; None when
    onnxruntime is missing (the file is then written unchecked)."""
    inputs = random_hub_inputs(hub, settings.check_batch)
    try:
        if settings.format == "savedmodel":
            return check_savedmodel(written, hub, inputs, settings.limits)
        try:
            return check_onnx(written, hub, inputs, settings.limits)
        except ImportError:
            return None
    except ExportCheckError as error:
        raise ExportCheckError(f"{error} on {settings.check_batch} random windows; nothing was written to {given} "
                               "(limits: docs/export.md; --atol-mean / --atol-steps change them).") from None


def _check_destination(given, out, format):
    """Refuses, before any work, an `out` that an export must not replace."""
    if format == "onnx" and os.path.isdir(out):
        raise ConfigError(f"--out {given!r} is a folder; pass a file name for the ONNX model, e.g. model.onnx.")
    if format == "savedmodel" and os.path.exists(out):
        if not os.path.isdir(out):
            raise ConfigError(f"--out {given!r} is a file; pass a folder name for the SavedModel.")
        if os.listdir(out) and not os.path.exists(os.path.join(out, "saved_model.pb")):
            raise ConfigError(f"--out {given!r} is a folder that is not a SavedModel and not empty; pass a new "
                              "folder name (an earlier SavedModel there would be replaced).")


def _make_folder(folder):
    """Creates `folder` and its missing parents; returns the folders it
    created, deepest first."""
    created = []
    while not os.path.exists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    if created:
        os.makedirs(created[0])
    return created
