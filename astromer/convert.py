"""Loading the authors' original Astromer weights.

Supported formats (the same variables in both original code bases):

- TF checkpoints (`weights.index` + `weights.data-*`) written by the
  python-library (Astromer 1, e.g. the published MACHO weights) or by
  main-code (Astromer 2). Reading them needs TensorFlow.
- Legacy Keras-2 HDF5 weight files (`model.save_weights(..., save_format="h5")`
  on the original models). Read with h5py; no TensorFlow needed. Layer names
  there are Keras-2 auto names (`dense_10`, ...), so they are mapped by
  structure and order, and checked by shape and name keywords.

The architecture comes from the configuration file next to the weights:
`conf.json` (python-library: preset `a1-original`) or `config.json`
(main-code: preset `a2-original`), and the weight shapes (layers, mixer size,
`use_leak`). The original quirks these models need are in those presets.

This module reads and checks arrays and assigns them to a model it is
given; it imports no model class. `Pretrainer.from_original_checkpoint`
builds the model and calls it.

After loading, save in Keras format (`model.save("a1.keras")`) to use the
weights on any backend, also where TensorFlow is not installed.
"""

import json
import os
import re
from typing import NamedTuple

import numpy as np

from astromer import presets

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_ENCODER = "layer_with_weights-0"
_HEAD = "layer_with_weights-1"


def _target_variables(model):
    """Maps canonical original keys (TF checkpoint keys without the suffix)
    to the variables of a `Pretrainer` on an `AstromerBackbone`, or of a
    bare `AstromerBackbone` (no reconstruction head)."""
    backbone = _backbone_of(model)
    targets = {}

    def dense(prefix, layer):
        targets[f"{prefix}/kernel"] = layer.kernel
        targets[f"{prefix}/bias"] = layer.bias

    def norm(prefix, layer):
        targets[f"{prefix}/gamma"] = layer.gamma
        targets[f"{prefix}/beta"] = layer.beta

    dense(f"{_ENCODER}/inp_transform", backbone.get_layer("input_embedding").magnitude_projection)
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"block_{i}")
        prefix = f"{_ENCODER}/enc_layers/{i}"
        attention = block.attention
        dense(f"{prefix}/mha/wq", attention.query)
        dense(f"{prefix}/mha/wk", attention.key)
        dense(f"{prefix}/mha/wv", attention.value)
        dense(f"{prefix}/mha/dense", attention.output_dense)
        dense(f"{prefix}/ffn/layer_with_weights-0", block.ffn_hidden)
        dense(f"{prefix}/ffn/layer_with_weights-1", block.ffn_output)
        norm(f"{prefix}/layernorm1", block.attention_norm)
        norm(f"{prefix}/layernorm2", block.ffn_norm)
        if block.use_leak:
            dense(f"{prefix}/reshape_leak_1", block.leak_attention)
            dense(f"{prefix}/reshape_leak_2", block.leak_ffn)
    head = getattr(model, "reconstruction_head", None)
    if head is not None:
        norm(f"{_HEAD}/bn_0", head.norm)
        dense(f"{_HEAD}/reg_layer", head.dense)
    return targets


def _backbone_of(model):
    """The encoder of a task model (its `backbone`), or `model` itself."""
    return getattr(model, "backbone", model)


def read_tf_checkpoint(path):
    """Returns `{canonical key: array}` from an original TF checkpoint.

    `path` is the checkpoint folder or its prefix (`.../weights`).
    """
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise ImportError(
            f"Reading the TF checkpoint {path!r} needs TensorFlow. Convert it once on a "
            "machine with TensorFlow (Pretrainer.from_original_checkpoint(path).save("
            "'model.keras')) and load the .keras file here."
        ) from error
    prefix = path
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            candidates = [f[: -len(".index")] for f in os.listdir(path) if f.endswith(".index")]
            if len(candidates) != 1:
                raise FileNotFoundError(
                    f"No TF checkpoint found in {path!r} (expected a 'checkpoint' file or "
                    f"one '*.index' file, found {sorted(os.listdir(path))})."
                )
            prefix = os.path.join(path, candidates[0])
    if not os.path.exists(prefix + ".index"):
        raise FileNotFoundError(f"No TF checkpoint at {path!r} (missing {prefix + '.index'}).")
    reader = tf.train.load_checkpoint(prefix)
    arrays = {}
    for key in reader.get_variable_to_shape_map():
        if not key.endswith(_SUFFIX) or "OPTIMIZER_SLOT" in key:
            continue
        name = key[: -len(_SUFFIX)]
        if name.startswith(("optimizer/", "save_counter")):
            continue
        arrays[name] = reader.get_tensor(key)
    return arrays


def _h5_names(group):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]


def read_legacy_h5(path):
    """Returns `({canonical key: array}, original input layer names)` from a
    Keras-2 `.h5` weight file of an original Astromer model."""
    import h5py

    with h5py.File(path, "r") as f:
        layer_names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]]
        if "encoder" not in f or "regression" not in f:
            raise ValueError(
                f"{path!r} is not an original Astromer weight file: expected layers "
                f"'encoder' and 'regression', found {layer_names}."
            )
        enc_names = _h5_names(f["encoder"])
        enc = [np.asarray(f["encoder"][n]) for n in enc_names]
        head_names = _h5_names(f["regression"])
        head = [np.asarray(f["regression"][n]) for n in head_names]

    arrays = {}
    num_layers = sum(1 for n in enc_names if "/WQ/kernel" in n)
    if num_layers == 0 or (len(enc) - 2) % num_layers:
        raise ValueError(
            f"{path!r}: cannot split {len(enc)} encoder arrays into attention blocks "
            f"(found {num_layers} query kernels)."
        )
    per_block = (len(enc) - 2) // num_layers
    if per_block not in (16, 20):
        raise ValueError(
            f"{path!r}: {per_block} arrays per attention block; expected 16 "
            "(no leak) or 20 (use_leak)."
        )
    arrays[f"{_ENCODER}/inp_transform/kernel"], arrays[f"{_ENCODER}/inp_transform/bias"] = enc[:2]
    # Order inside a block is the original model.weights order: WQ, WK, WV,
    # merge, the two tanh-mixer denses, the two LayerNorms, then the leak denses.
    slots = [
        ("mha/wq", ("kernel", "bias"), "/WQ/"),
        ("mha/wk", ("kernel", "bias"), "/WK/"),
        ("mha/wv", ("kernel", "bias"), "/WV/"),
        ("mha/dense", ("kernel", "bias"), ("attmerge", "MixerDense")),
        ("ffn/layer_with_weights-0", ("kernel", "bias"), "dense"),
        ("ffn/layer_with_weights-1", ("kernel", "bias"), "dense"),
        ("layernorm1", ("gamma", "beta"), "layer_normalization"),
        ("layernorm2", ("gamma", "beta"), "layer_normalization"),
        ("reshape_leak_1", ("kernel", "bias"), "dense"),
        ("reshape_leak_2", ("kernel", "bias"), "dense"),
    ]
    for i in range(num_layers):
        chunk = list(zip(enc_names, enc))[2 + i * per_block : 2 + (i + 1) * per_block]
        for j, (slot, leaves, keyword) in enumerate(slots[: per_block // 2]):
            for k, leaf in enumerate(leaves):
                name, value = chunk[2 * j + k]
                keywords = keyword if isinstance(keyword, tuple) else (keyword,)
                if not name.endswith(f"{leaf}:0") or not any(w in name for w in keywords):
                    raise ValueError(
                        f"{path!r}: unexpected weight order in block {i}: {name!r} where "
                        f"the {slot}/{leaf} weight should be."
                    )
                arrays[f"{_ENCODER}/enc_layers/{i}/{slot}/{leaf}"] = value
    for name, value in zip(head_names, head):
        leaf = name.rsplit("/", 1)[-1].split(":")[0]
        slot = "bn_0" if "layer_normalization" in name else "reg_layer"
        arrays[f"{_HEAD}/{slot}/{leaf}"] = value
    return arrays, layer_names


def _read_config_file(folder):
    """The original configuration next to the weights, as (preset, overrides)."""
    conf = os.path.join(folder, "conf.json")
    config = os.path.join(folder, "config.json")
    if os.path.isfile(conf):
        # python-library (Astromer 1). Its "head_dim" is really d_model; its
        # "base" was never used (ORACLES.md, surprises 2 and 7).
        with open(conf) as f:
            c = json.load(f)
        heads = int(c.get("heads", 4))
        overrides = {"num_heads": heads}
        if "head_dim" in c:
            overrides["head_dim"] = int(c["head_dim"]) // heads
        if "dropout" in c:
            overrides["dropout"] = float(c["dropout"])
        if "max_obs" in c:
            overrides["window_size"] = int(c["max_obs"])
        return "a1-original", overrides, False
    if os.path.isfile(config):
        # main-code (Astromer 2) get_ASTROMER arguments. pe_base / pe_c and
        # trainable_mask had no effect in that code (surprises 1 and 2).
        with open(config) as f:
            c = json.load(f)
        overrides = {}
        for ours, theirs, cast in (
            ("num_heads", "num_heads", int),
            ("head_dim", "head_dim", int),
            ("window_size", "window_size", int),
            ("dropout", "dropout", float),
            ("mask_alpha", "m_alpha", float),
            ("mask_format", "mask_format", str),
            ("temperature", "temperature", float),
        ):
            if c.get(theirs) is not None:
                overrides[ours] = cast(c[theirs])
        return "a2-original", overrides, bool(c.get("correct_loss", False))
    return None, {}, False


def _infer_shapes(arrays):
    layers = {int(m.group(1)) for k in arrays if (m := re.search(r"enc_layers/(\d+)/", k))}
    if not layers:
        raise ValueError("No attention blocks (enc_layers/*) found in the original weights.")
    num_layers = max(layers) + 1
    hidden_dim = arrays[f"{_ENCODER}/enc_layers/0/mha/wq/kernel"].shape[-1]
    ff_dim = arrays[f"{_ENCODER}/enc_layers/0/ffn/layer_with_weights-0/kernel"].shape[-1]
    use_leak = any("reshape_leak" in k for k in arrays)
    return {"num_layers": num_layers, "ff_dim": int(ff_dim), "use_leak": use_leak}, hidden_dim


class OriginalCheckpoint(NamedTuple):
    """What an original checkpoint holds, read without building a model."""

    model_config: dict
    """`AstromerBackbone` arguments: the preset's, the weight shapes', the
    configuration file's, then the caller's overrides."""
    arrays: dict
    """`{canonical key: array}` (see `assign_original_weights`)."""
    correct_loss: bool
    """The original `correct_loss`: whether it trained with the
    uncertainty-weighted loss (False for Astromer 1)."""
    source: str
    """The path, for error messages."""


def read_original(path, preset=None, **overrides):
    """Reads the original weights at `path` and the architecture they need.

    Args:
        path: TF checkpoint folder or prefix, or a legacy `.h5` file.
        preset: "a1-original" or "a2-original"; read from the `conf.json` /
            `config.json` next to the weights when not given.
        **overrides: model settings to change, e.g. `mask_token=True` for
            the "as intended" Astromer 2 behaviour or `mask_alpha=-1e9`.

    Returns an `OriginalCheckpoint`; `Pretrainer.from_original_checkpoint`
    builds the model and copies the arrays in (`assign_original_weights`).
    """
    if str(path).endswith((".h5", ".hdf5")):
        arrays, layer_names = read_legacy_h5(path)
        folder = os.path.dirname(os.path.abspath(path))
        guessed = "a1-original" if "length" in layer_names else "a2-original"
    else:
        arrays = read_tf_checkpoint(path)
        folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        guessed = None
    file_preset, file_overrides, correct_loss = _read_config_file(folder)
    preset = preset or file_preset or guessed
    if preset is None:
        raise ValueError(
            f"No conf.json/config.json next to {path!r}, so the architecture is unknown. "
            "Pass preset='a1-original' (python-library checkpoints) or "
            "preset='a2-original' (main-code checkpoints), and num_heads=... if not 4."
        )
    shapes, hidden_dim = _infer_shapes(arrays)
    model_config = dict(presets.load_preset(preset)["model"])
    model_config.pop("class")
    model_config.update(shapes)
    model_config.update(file_overrides)
    model_config.update(overrides)
    if model_config["num_heads"] * model_config["head_dim"] != hidden_dim:
        heads = model_config["num_heads"]
        if hidden_dim % heads:
            raise ValueError(
                f"The weights have hidden size {hidden_dim}, which {heads} heads do not divide; "
                "pass num_heads=..."
            )
        model_config["head_dim"] = hidden_dim // heads
    return OriginalCheckpoint(model_config, arrays, correct_loss, str(path))


def assign_original_weights(model, arrays, source="the weights"):
    """Copies `{canonical key: array}` into `model`, checking names and shapes.

    `model` is a `Pretrainer` on an `AstromerBackbone`, or a bare
    `AstromerBackbone` (the reconstruction head's arrays are then left out).
    """
    targets = _target_variables(model)
    backbone = _backbone_of(model)
    if backbone is model:
        arrays = {key: value for key, value in arrays.items() if not key.startswith(f"{_HEAD}/")}
    missing = sorted(set(targets) - set(arrays))
    extra = sorted(set(arrays) - set(targets))
    if missing or extra:
        raise ValueError(
            f"{source} does not match the architecture "
            f"({backbone.num_layers} blocks, use_leak={backbone.use_leak}): "
            f"missing variables {missing or 'none'}; unexpected variables {extra or 'none'}."
        )
    wrong = [
        f"{key}: model {tuple(var.shape)}, weights {arrays[key].shape}"
        for key, var in targets.items()
        if tuple(var.shape) != arrays[key].shape
    ]
    if wrong:
        raise ValueError(f"{source}: shape mismatch for " + "; ".join(wrong))
    for key, var in targets.items():
        var.assign(arrays[key].astype(var.dtype))
