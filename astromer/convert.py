"""The authors' original Astromer weights mapped onto our models: TF
checkpoints of the python-library (Astromer 1, the published MACHO weights)
and of main-code (Astromer 2), and legacy Keras-2 `.h5` files (read by
`astromer.original_files`). The architecture comes from the configuration
next to the weights (`conf.json`: preset `a1-original`; `config.json`:
`a2-original`) and the weight shapes. This module imports no model class:
`Pretrainer.from_original_checkpoint` builds the model and calls it. Save the
result as `.keras` to use it on any backend, without TensorFlow.
"""

import os
import re
from typing import NamedTuple

from astromer import presets
from astromer.original_files import ENCODER_SCOPE, HEAD_SCOPE, read_config_file, read_legacy_h5, read_tf_checkpoint


def _target_variables(model):
    """Canonical original keys (TF checkpoint keys without the suffix) ->
    the variables of a `Pretrainer` or of a bare `AstromerBackbone`."""
    backbone = getattr(model, "backbone", model)
    targets = {}

    def dense(prefix, layer):
        targets[f"{prefix}/kernel"] = layer.kernel
        targets[f"{prefix}/bias"] = layer.bias

    def norm(prefix, layer):
        targets[f"{prefix}/gamma"] = layer.gamma
        targets[f"{prefix}/beta"] = layer.beta

    dense(f"{ENCODER_SCOPE}/inp_transform", backbone.get_layer("input_embedding").magnitude_projection)
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"block_{i}")
        prefix = f"{ENCODER_SCOPE}/enc_layers/{i}"
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
        norm(f"{HEAD_SCOPE}/bn_0", head.norm)
        dense(f"{HEAD_SCOPE}/reg_layer", head.dense)
    return targets


def _infer_shapes(arrays):
    layers = {int(m.group(1)) for k in arrays if (m := re.search(r"enc_layers/(\d+)/", k))}
    if not layers:
        raise ValueError("No attention blocks (enc_layers/*) found in the original weights.")
    num_layers = max(layers) + 1
    hidden_dim = arrays[f"{ENCODER_SCOPE}/enc_layers/0/mha/wq/kernel"].shape[-1]
    ff_dim = arrays[f"{ENCODER_SCOPE}/enc_layers/0/ffn/layer_with_weights-0/kernel"].shape[-1]
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
    """What an original checkpoint holds, read without building a model:
    `AstromerBackbone` arguments (the preset's, then the weight shapes', the
    configuration file's and the caller's), `{canonical key: array}`, the
    original `correct_loss` (trained with the uncertainty-weighted loss) and
    the path, for messages."""

    model_config: dict
    arrays: dict
    correct_loss: bool
    source: str


def read_original(path, preset=None, **overrides):
    """The `OriginalCheckpoint` at `path` (TF checkpoint folder or prefix,
    or legacy `.h5`). `preset` ("a1-original" / "a2-original") is read from
    the configuration file next to the weights when not given; `overrides`
    change model settings (e.g. `mask_token=True`, Astromer 2 "as intended").
    """
    legacy = str(path).endswith((".h5", ".hdf5"))
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    # The configuration first: a damaged one is named before the weights are read.
    file_preset, file_overrides, correct_loss = read_config_file(folder)
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
    """Copies `{canonical key: array}` into `model` (a `Pretrainer`, or a bare
    `AstromerBackbone`: the head's arrays are then left out), checking names
    and shapes."""
    targets = _target_variables(model)
    backbone = getattr(model, "backbone", model)
    if backbone is model:
        arrays = {key: value for key, value in arrays.items() if not key.startswith(f"{HEAD_SCOPE}/")}
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
