"""Presets: named YAML configurations shipped with the package.

A preset file has a `model` section (the backbone's constructor arguments
plus its `class`) and sections for the jobs that use it (`data`,
`pretraining`, ...); `workflows/<name>.yaml` holds the settings of a workflow
that do not depend on the model (e.g. how each few-shot method trains). One
override order: the preset file, then `--set key=value` assignments (dotted
keys, YAML values).
"""

import copy
import difflib
import importlib
import os
from importlib import resources

import numpy as np
import yaml

PRESET_PACKAGE = "astromer.preset_files"

BACKBONE_CLASSES = {
    "AstromerBackbone": "astromer.models.astromer_backbone",
    "AstroCoBackbone": "astromer.models.astroco_backbone",
}


def _preset_folder():
    try:
        return resources.files(PRESET_PACKAGE)
    except ModuleNotFoundError:
        # A source checkout on PYTHONPATH, not installed: the YAML files sit
        # in the repository's top-level presets/ folder.
        return resources.files("astromer").joinpath("..", "presets")


def _preset_files():
    folder = _preset_folder()
    return {
        entry.name[: -len(".yaml")]: entry
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


def available_presets():
    """Names of the presets shipped with the package, sorted."""
    return sorted(_preset_files())


def load_preset(preset):
    """Returns the configuration of a preset name or a YAML file path as a dict."""
    if isinstance(preset, dict):
        return copy.deepcopy(preset)
    preset = str(preset)
    if preset.endswith((".yaml", ".yml")) or os.path.sep in preset:
        if not os.path.isfile(preset):
            raise FileNotFoundError(f"Preset file {preset!r} does not exist.")
        with open(preset) as f:
            return yaml.safe_load(f)
    files = _preset_files()
    if preset not in files:
        close = difflib.get_close_matches(preset, files, n=3, cutoff=0.4)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"Unknown preset {preset!r}. Available presets: {sorted(files)}.{hint}"
        )
    return yaml.safe_load(files[preset].read_text())


def workflow_settings(workflow):
    """The default settings of a workflow (`presets/workflows/<workflow>.yaml`)
    as a dict of sections; `apply_overrides` changes them."""
    return yaml.safe_load(_preset_folder().joinpath("workflows", f"{workflow}.yaml").read_text())


def flatten(config, prefix=""):
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def apply_overrides(config, assignments):
    """Applies `["section.key=value", ...]` to a copy of `config`.

    Values are parsed as YAML (`1e-4`, `true`, `[1, 2]`). Unknown keys fail
    with the closest valid keys.
    """
    config = copy.deepcopy(config)
    valid = flatten(config)
    for assignment in assignments or ():
        if "=" not in assignment:
            raise ValueError(
                f"Override {assignment!r} is not of the form key=value "
                f"(e.g. pretraining.batch_size=256)."
            )
        key, raw = assignment.split("=", 1)
        key = key.strip()
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
            if not close:
                leaf = key.rsplit(".", 1)[-1]
                close = [k for k in valid if k.rsplit(".", 1)[-1] == leaf][:3]
            hint = f" Closest valid keys: {close}." if close else ""
            raise ValueError(f"Unknown setting {key!r}.{hint}")
        value = yaml.safe_load(raw) if raw.strip() else None
        if isinstance(value, str):
            # YAML 1.1 reads "1e-4" (no dot) as a string.
            try:
                value = float(value)
            except ValueError:
                pass
        node = config
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
        valid[key] = value
    return config


def backbone_class(class_name):
    if class_name not in BACKBONE_CLASSES:
        raise ValueError(
            f"Unknown backbone class {class_name!r}; known: {sorted(BACKBONE_CLASSES)}."
        )
    module = importlib.import_module(BACKBONE_CLASSES[class_name])
    return getattr(module, class_name)


def build_backbone(preset, **overrides):
    """Builds the (randomly initialised) backbone described by a preset."""
    config = load_preset(preset)
    cls = backbone_class(config["model"]["class"])
    return cls.from_preset(config, **overrides)


def plain(value):
    """`value` in plain Python types: configs taken from a built model hold
    Keras' tracked list wrappers, tuples and NumPy scalars, which safe_dump
    refuses (run configs and preprocessors' get_config)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
