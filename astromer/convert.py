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
from astromer.errors import WeightsError

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


CHECKPOINT_FIX = ("download or copy the checkpoint folder again (its 'checkpoint', weights.index, weights.data-* "
                  "and conf.json or config.json files), or point --weights at another checkpoint.")


class MissingWeightsFile(WeightsError, FileNotFoundError):
    """A file of the weights that is not there: a `WeightsError` that is
    also the `FileNotFoundError` these were before."""


def read_tf_checkpoint(path):
    """Returns `{canonical key: array}` from an original TF checkpoint.

    `path` is the checkpoint folder or its prefix (`.../weights`). A missing,
    truncated or damaged index or data file raises `WeightsError` naming it
    (`MissingWeightsFile` for a missing one).
    """
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise ImportError(
            f"Reading the TF checkpoint {path!r} needs TensorFlow. Convert it once on a "
            "machine with TensorFlow (Pretrainer.from_original_checkpoint(path).save("
            "'model.keras')) and load the .keras file here."
        ) from error
    path = os.fspath(path)
    prefix = _checkpoint_prefix(path)
    index = prefix + ".index"
    if not os.path.exists(index):
        data = _data_files(prefix)
        if not data:
            raise MissingWeightsFile(f"No TF checkpoint at {path!r} (missing {index}): check the path, or point "
                                     "--weights at another checkpoint.")
        raise MissingWeightsFile(f"{index} is missing: it is the checkpoint's index, without which "
                                 f"{', '.join(os.path.basename(f) for f in data)} cannot be read; {CHECKPOINT_FIX}")
    if os.path.getsize(index) == 0:
        raise WeightsError(f"{index} is empty (0 bytes), not a TF checkpoint index: {CHECKPOINT_FIX}")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except tf.errors.OpError as error:
        raise _unreadable_index(index, error) from None
    arrays = {}
    try:
        # Every tensor is read, the optimizer's too, so that a truncated or
        # damaged data file is found here (TF checks each tensor's length
        # and checksum as it reads it), not as wrong weights later.
        for key in reader.get_variable_to_shape_map():
            value = reader.get_tensor(key)
            if not key.endswith(_SUFFIX) or "OPTIMIZER_SLOT" in key:
                continue
            name = key[: -len(_SUFFIX)]
            if name.startswith(("optimizer/", "save_counter")):
                continue
            arrays[name] = value
    except (IndexError, tf.errors.OpError) as error:
        raise _unreadable_data(prefix, reader, error) from None
    return arrays


def _checkpoint_prefix(path):
    """The prefix (`.../weights`) of the TF checkpoint at `path`, a folder
    or already a prefix: the one its 'checkpoint' file names, else its only
    `*.index` file, else (index missing) its only `*.data-*` files'."""
    if not os.path.isdir(path):
        return path
    named = _named_prefix(path)
    if named is not None:
        return named
    names = sorted(os.listdir(path))
    indexes = [n[: -len(".index")] for n in names if n.endswith(".index")]
    if len(indexes) == 1:
        return os.path.join(path, indexes[0])
    if len(indexes) > 1:
        raise WeightsError(f"{path} holds {len(indexes)} TF checkpoints ({', '.join(indexes)}) and no 'checkpoint' "
                           "file naming the one to use: give its prefix, e.g. "
                           f"{os.path.join(path, indexes[0])!r}.")
    stems = sorted({n.split(".data-")[0] for n in names if re.search(r"\.data-\d+-of-\d+$", n)})
    if len(stems) == 1:
        return os.path.join(path, stems[0])
    raise MissingWeightsFile(
        f"No TF checkpoint found in {path!r} (expected a 'checkpoint' file or one '*.index' file, found "
        f"{names or 'nothing'}): check the path, or point --weights at another checkpoint."
    )


def _named_prefix(folder):
    """The prefix the folder's 'checkpoint' file names, if that file is
    readable and the prefix has files (as `tf.train.latest_checkpoint`, which
    logs an error line for a stale one); otherwise None."""
    try:
        with open(os.path.join(folder, "checkpoint"), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    match = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', text, re.M)
    if not match or not match.group(1):
        return None
    name = match.group(1)
    # A checkpoint written elsewhere may name an absolute path: its files
    # were copied next to the 'checkpoint' file.
    candidates = [name, os.path.join(folder, os.path.basename(name))] if os.path.isabs(name) else [
        os.path.join(folder, name)]
    for prefix in candidates:
        if os.path.exists(prefix + ".index") or _data_files(prefix):
            return prefix
    return None


def _data_files(prefix):
    """The `<prefix>.data-NNNNN-of-NNNNN` files there are."""
    folder, stem = os.path.split(prefix)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    pattern = re.compile(re.escape(stem) + r"\.data-\d+-of-\d+$")
    return sorted(os.path.join(folder, n) for n in names if pattern.match(n))


def _size(path):
    return f"{os.path.getsize(path):,} bytes"


def _unreadable_index(index, error):
    """The `WeightsError` for an index TF cannot open."""
    message = " ".join(str(error).split())
    if "bad magic number" in message or "too short" in message:
        # A TF index is a table whose footer is its last bytes.
        return WeightsError(f"{index} is truncated or not a TF checkpoint index ({_size(index)}; the table's footer, "
                            f"its last bytes, is missing): {CHECKPOINT_FIX}")
    if "checksum mismatch" in message:
        return WeightsError(f"{index} is damaged: bytes in it fail their checksum ({_size(index)}): {CHECKPOINT_FIX}")
    return WeightsError(f"{index} is damaged ({message}; {_size(index)}): {CHECKPOINT_FIX}")


def _unreadable_data(prefix, reader, error):
    """The `WeightsError` for a data file TF cannot read a tensor from."""
    message = " ".join(str(error).split())
    data = _data_files(prefix)
    missing = re.search(r"(\S+\.data-\d+-of-\d+); No such file", message)
    if missing:
        return MissingWeightsFile(f"{missing.group(1)} is missing: it holds the weights {prefix}.index lists; "
                                  f"{CHECKPOINT_FIX}")
    shard = re.search(r"shard (\d+)", message)
    if shard and len(data) > int(shard.group(1)):
        data = [data[int(shard.group(1))]]
    if len(data) == 1:
        subject, size = data[0], f" ({_size(data[0])})"
    else:
        subject = f"The checkpoint's data ({', '.join(f'{f}, {_size(f)}' for f in data) or prefix + '.data-*'})"
        size = ""
    if isinstance(error, IndexError):
        # TF: "Read less bytes than requested".
        short = f"shorter than {prefix}.index says"
        if len(data) == 1:
            need = _numeric_bytes(reader)
            if os.path.getsize(data[0]) < need:
                short = f"the weights {prefix}.index lists need at least {need:,}"
            return WeightsError(f"{subject} is truncated ({_size(data[0])}; {short}): {CHECKPOINT_FIX}")
        return WeightsError(f"{subject} is truncated ({short}): {CHECKPOINT_FIX}")
    if "Checksum does not match" in message:
        return WeightsError(f"{subject} is damaged: bytes in it fail their checksum{size}: {CHECKPOINT_FIX}")
    detail = f"{message}; {_size(data[0])}" if len(data) == 1 else message
    return WeightsError(f"{subject} is damaged ({detail}): {CHECKPOINT_FIX}")


def _numeric_bytes(reader):
    """The bytes of the checkpoint's non-string tensors, a lower bound on
    the size of its data."""
    dtypes = reader.get_variable_to_dtype_map()
    total = 0
    for key, shape in reader.get_variable_to_shape_map().items():
        if dtypes[key].name != "string":
            total += int(np.prod(shape, dtype=np.int64)) * dtypes[key].size
    return total


def _h5_names(group):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]


def read_legacy_h5(path):
    """Returns `({canonical key: array}, original input layer names)` from a
    Keras-2 `.h5` weight file of an original Astromer model."""
    import h5py

    from astromer.saving import check_h5

    check_h5(path, "legacy .h5 weight file")
    with h5py.File(path, "r") as f:
        if "layer_names" not in f.attrs:
            raise WeightsError(f"{path!r} is not a Keras-2 weight file of an original Astromer model (no "
                               "'layer_names'): give the original .h5 weights, or a .weights.h5 file with --preset.")
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
        c = _read_json(conf)
        heads = _setting(conf, c, "heads", int, 4)
        overrides = {"num_heads": heads}
        if "head_dim" in c:
            overrides["head_dim"] = _setting(conf, c, "head_dim", int) // heads
        if "dropout" in c:
            overrides["dropout"] = _setting(conf, c, "dropout", float)
        if "max_obs" in c:
            overrides["window_size"] = _setting(conf, c, "max_obs", int)
        return "a1-original", overrides, False
    if os.path.isfile(config):
        # main-code (Astromer 2) get_ASTROMER arguments. pe_base / pe_c and
        # trainable_mask had no effect in that code (surprises 1 and 2).
        c = _read_json(config)
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
                overrides[ours] = _setting(config, c, theirs, cast)
        return "a2-original", overrides, bool(c.get("correct_loss", False))
    return None, {}, False


def _read_json(path):
    """The JSON object in the configuration file at `path`; an empty,
    truncated or damaged one raises `WeightsError` naming it."""
    fix = "download or copy it again with the weights, or point --weights at another checkpoint."
    size = os.path.getsize(path)
    if size == 0:
        raise WeightsError(f"{path} is empty (0 bytes), not the checkpoint's JSON settings: {fix}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as error:
        raise WeightsError(f"{path} is damaged (byte {error.start:,} is not text; {size:,} bytes): {fix}") from None
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}; {size:,} bytes"
        # Cut short: it ends inside a string or where more was expected.
        if error.msg.startswith("Unterminated string") or not text[error.pos:].strip():
            raise WeightsError(f"{path} is truncated: its JSON stops before it is complete ({error.msg} at "
                               f"{where}): {fix}") from None
        raise WeightsError(f"{path} is damaged: not valid JSON ({error.msg} at {where}): {fix}") from None
    if not isinstance(settings, dict):
        raise WeightsError(f"{path} is damaged: it holds a JSON {type(settings).__name__} where the checkpoint's "
                           f"settings (an object) should be: {fix}")
    return settings


def _setting(path, settings, key, cast, default=None):
    """`cast(settings[key])`, a value that is not one naming the file."""
    value = settings.get(key, default)
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise WeightsError(f"{path} is damaged: its {key!r} is {value!r}, not a{'n' if cast is int else ''} "
                           f"{cast.__name__}: download or copy it again with the weights, or point --weights at "
                           "another checkpoint.") from None


def _infer_shapes(arrays):
    layers = {int(m.group(1)) for k in arrays if (m := re.search(r"enc_layers/(\d+)/", k))}
    if not layers:
        raise ValueError("No attention blocks (enc_layers/*) found in the original weights.")
    num_layers = max(layers) + 1
    hidden_dim = arrays[f"{_ENCODER}/enc_layers/0/mha/wq/kernel"].shape[-1]
    ff_dim = arrays[f"{_ENCODER}/enc_layers/0/ffn/layer_with_weights-0/kernel"].shape[-1]
    use_leak = any("reshape_leak" in k for k in arrays)
    return {"num_layers": num_layers, "ff_dim": int(ff_dim), "use_leak": use_leak}, hidden_dim


# The attention quirks of the authors' code, by the `mask_alpha` they need:
# Astromer 1's +1 bonus on masked keys, Astromer 2's soft -0.5. A backbone
# with one of them carries weights converted from an original checkpoint.
ORIGINAL_MASK_ALPHAS = {1.0: "a1", -0.5: "a2"}


def original_code(backbone):
    """"a1" or "a2" for a backbone built for an original checkpoint's
    weights (read from its attention quirk), else None."""
    return ORIGINAL_MASK_ALPHAS.get(float(getattr(backbone, "mask_alpha", -1e9)))


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
    legacy = str(path).endswith((".h5", ".hdf5"))
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    # The configuration first: a damaged one is named before the weights are read.
    file_preset, file_overrides, correct_loss = _read_config_file(folder)
    if legacy:
        arrays, layer_names = read_legacy_h5(path)
        guessed = "a1-original" if "length" in layer_names else "a2-original"
    else:
        arrays = read_tf_checkpoint(path)
        guessed = None
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
