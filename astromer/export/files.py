"""Writing an exported encoder, and checking an ONNX file against Keras."""

import os

import numpy as np

FORMATS = ("onnx", "savedmodel")


def export_model(backbone, out, format="onnx"):
    """Exports `hub_model(backbone)` to `out`: an ONNX file (dynamic batch,
    through Keras' exporter: tf2onnx under TensorFlow) or a TensorFlow
    SavedModel folder. Raises ValueError naming the layer when a layer has
    no ONNX equivalent."""
    from astromer.export.hub import hub_model

    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; use one of {FORMATS}.")
    model = hub_model(_float32(backbone))
    # Keras exports only a model that has run once.
    model([np.ones((1,) + tuple(i.shape[1:]), np.float32) for i in model.inputs], training=False)
    try:
        if format == "onnx":
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
    return model


def _check_loads(path, model):
    """An exported graph that ONNX Runtime refuses (an operator with no ONNX
    equivalent, e.g. the exact GELU's Erfc) is removed and reported with the
    layer it comes from."""
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


def _float32(backbone):
    """`backbone` in float32: mixed-precision presets (AstroCo: bfloat16)
    keep float32 weights, and ONNX Runtime's CPU kernels want one dtype."""
    policy = backbone.get_config().get("dtype")
    name = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
    if name in (None, "float32"):
        return backbone
    copy = type(backbone).from_config({**backbone.get_config(), "dtype": "float32"})
    copy.set_weights(backbone.get_weights())
    return copy


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


def check_onnx(path, model, inputs, atol=1e-4, atol_steps=None):
    """Runs the ONNX file at `path` under onnxruntime on `inputs` (dict of
    `(batch, steps, 1)` arrays by input name) and compares every output
    with the Keras `model`'s. Returns the largest absolute difference per
    output; raises AssertionError when `mean` differs by more than `atol`
    or `sequence` / `max` (single steps, not averaged) by more than
    `atol_steps` (default `atol`). Astromer 1 has no residual connections,
    and one step's output moves by up to 1.6e-3 with the order of float
    operations alone (the authors' code with oneDNN on and off, ORACLES.md)."""
    import keras
    import onnxruntime

    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = {name: np.asarray(inputs[_input_key(name, inputs)], np.float32) for name in names}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    expected = model([inputs[n] for n in [i.name for i in model.inputs]], training=False)
    diffs = {}
    for name, value in expected.items():
        key = next(k for k in got if k == name or k.startswith(name))
        diffs[name] = float(np.abs(got[key] - keras.ops.convert_to_numpy(value)).max())
    limits = {name: atol if name == "mean" else (atol_steps or atol) for name in diffs}
    over = {name: d for name, d in diffs.items() if not d <= limits[name]}
    if over:
        raise AssertionError(f"ONNX outputs differ from Keras by more than allowed ({limits}): {diffs}")
    return diffs


def _input_key(name, inputs):
    # Exporters may suffix input names (e.g. "input:0").
    return name if name in inputs else name.split(":")[0]


def export_workflow(weights, out, format="onnx", preset=None, check_batch=4):
    """What `astromer-export` does: load `weights`, export, and (ONNX) check
    the file under onnxruntime on random windows. Returns a one-line report."""
    from astromer.training import load_weights

    model = load_weights(weights, preset)[0]
    hub = export_model(model.backbone, out, format)
    if format != "onnx":
        return f"wrote {out} (SavedModel; serving signature with the hub's inputs and outputs)"
    try:
        diffs = check_onnx(out, hub, random_hub_inputs(hub, check_batch))
    except ImportError:
        return f"wrote {out} (onnxruntime not installed: not checked)"
    return (f"wrote {out}; onnxruntime vs Keras on {check_batch} random windows: max |diff| "
            + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))


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
