"""The preprocessor saved with an exported encoder, and read back.

An exported model reads windows, not light curves; how light curves become
those windows (window size, input and band names, compat: which windows and
which centring) is its `HubPreprocessor`, the one `astromer-embed` reads
the same weights with (compat "auto"). `export_model` saves it in the
exported model itself:

- ONNX: the file's `metadata_props`, `astromer.preprocessor` (JSON
  `{"class": ..., "config": get_config()}`) and `astromer.version`;
- SavedModel: `assets.extra/astromer_preprocessor.json` in its folder
  (the SavedModel format's place for files that are not the graph's),
  the same two keys.

`read_preprocessor(path)` rebuilds it from either.
"""

import json
import os

from astromer.errors import ConfigError

PREPROCESSOR_KEY = "astromer.preprocessor"
VERSION_KEY = "astromer.version"
SAVEDMODEL_FILE = os.path.join("assets.extra", "astromer_preprocessor.json")


def save_preprocessor(path, preprocessor, format="onnx"):
    """Writes `preprocessor` (its class name and `get_config()`) and the
    astromer version into the exported model at `path`."""
    import astromer

    record = {"class": type(preprocessor).__name__, "config": preprocessor.get_config()}
    if format == "savedmodel":
        os.makedirs(os.path.join(path, os.path.dirname(SAVEDMODEL_FILE)), exist_ok=True)
        with open(os.path.join(path, SAVEDMODEL_FILE), "w") as f:
            json.dump({PREPROCESSOR_KEY: record, VERSION_KEY: astromer.__version__}, f, indent=1)
        return
    import onnx

    model = onnx.load(os.fspath(path))
    entries = {PREPROCESSOR_KEY: json.dumps(record), VERSION_KEY: astromer.__version__}
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept + [onnx.StringStringEntryProto(key=k, value=v) for k, v in entries.items()])
    onnx.save(model, os.fspath(path))


def read_metadata(path):
    """`{"astromer.preprocessor": {"class", "config"}, "astromer.version"}`
    of the ONNX file or SavedModel folder at `path`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        try:
            with open(os.path.join(path, SAVEDMODEL_FILE)) as f:
                return json.load(f)
        except FileNotFoundError:
            entries = {}
    else:
        import onnx

        # The graph's weights are not needed, only the metadata.
        entries = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    if PREPROCESSOR_KEY not in entries:
        raise ConfigError(f"{path!r} holds no {PREPROCESSOR_KEY!r}: it was not written by astromer-export "
                          "(or by one before 0.1.0); build astromer.preprocessing.HubPreprocessor for its window "
                          "size and inputs yourself.")
    return {**entries, PREPROCESSOR_KEY: json.loads(entries[PREPROCESSOR_KEY])}


def read_preprocessor(path):
    """The preprocessor saved in the exported model at `path` (an ONNX file
    or a SavedModel folder): `read_preprocessor(path)(light_curves)` gives
    that model's inputs by name."""
    import astromer.preprocessing as preprocessing

    record = read_metadata(path)[PREPROCESSOR_KEY]
    if record["class"] not in preprocessing.__all__:
        raise ConfigError(f"{os.fspath(path)!r} names preprocessor {record['class']!r}, which this astromer "
                          f"does not have; it has {preprocessing.__all__}.")
    return getattr(preprocessing, record["class"]).from_config(record["config"])
