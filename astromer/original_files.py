"""Reading the files of the authors' original checkpoints: TF checkpoints
(needs TensorFlow), legacy Keras-2 `.h5` files (h5py) and the `conf.json` /
`config.json` beside them. Every tensor is read, so TensorFlow's length and
checksum checks run; a missing, empty, truncated or damaged file is a
`WeightsError` naming it, what is wrong and what to do. `astromer.convert`
maps what is read onto a model.
"""

import json
import os
import re

import numpy as np

from astromer.errors import MissingWeightsFile, WeightsError

# How the original code bases name their variables in a checkpoint.
VARIABLE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
ENCODER_SCOPE = "layer_with_weights-0"
HEAD_SCOPE = "layer_with_weights-1"


CHECKPOINT_FIX = ("download or copy the checkpoint folder again (its 'checkpoint', weights.index, weights.data-* "
                  "and conf.json or config.json files), or point --weights at another checkpoint.")


def read_tf_checkpoint(path):
    """`{canonical key: array}` of the TF checkpoint at `path` (its folder or
    prefix `.../weights`); a missing file raises `MissingWeightsFile`."""
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise ImportError(f"Reading the TF checkpoint {path!r} needs TensorFlow. Convert it once on a machine with "
                          "TensorFlow (Pretrainer.from_original_checkpoint(path).save('model.keras')) and load the "
                          ".keras file here.") from error
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
            if not key.endswith(VARIABLE_SUFFIX) or "OPTIMIZER_SLOT" in key:
                continue
            name = key[: -len(VARIABLE_SUFFIX)]
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
    raise MissingWeightsFile(f"No TF checkpoint found in {path!r} (expected a 'checkpoint' file or one '*.index' "
                             f"file, found {names or 'nothing'}): check the path, or point --weights at another "
                             "checkpoint.")


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
            raise ValueError(f"{path!r} is not an original Astromer weight file: expected layers 'encoder' and "
                             f"'regression', found {layer_names}.")
        enc_names = _h5_names(f["encoder"])
        enc = [np.asarray(f["encoder"][n]) for n in enc_names]
        head_names = _h5_names(f["regression"])
        head = [np.asarray(f["regression"][n]) for n in head_names]

    arrays = {}
    num_layers = sum(1 for n in enc_names if "/WQ/kernel" in n)
    if num_layers == 0 or (len(enc) - 2) % num_layers:
        raise ValueError(f"{path!r}: cannot split {len(enc)} encoder arrays into attention blocks (found "
                         f"{num_layers} query kernels).")
    per_block = (len(enc) - 2) // num_layers
    if per_block not in (16, 20):
        raise ValueError(f"{path!r}: {per_block} arrays per attention block; expected 16 (no leak) or 20 (use_leak).")
    arrays[f"{ENCODER_SCOPE}/inp_transform/kernel"], arrays[f"{ENCODER_SCOPE}/inp_transform/bias"] = enc[:2]
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
                    raise ValueError(f"{path!r}: unexpected weight order in block {i}: {name!r} where the "
                                     f"{slot}/{leaf} weight should be.")
                arrays[f"{ENCODER_SCOPE}/enc_layers/{i}/{slot}/{leaf}"] = value
    for name, value in zip(head_names, head):
        leaf = name.rsplit("/", 1)[-1].split(":")[0]
        slot = "bn_0" if "layer_normalization" in name else "reg_layer"
        arrays[f"{HEAD_SCOPE}/{slot}/{leaf}"] = value
    return arrays, layer_names


def read_config_file(folder):
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
