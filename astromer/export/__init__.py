"""Exporting an encoder for the tools light-curve users embed with.

- `hub`: the encoder wrapped with the inputs and outputs of the
  `light-curve` package's embedding hub (`input`, `times`, `mask_in` ->
  `mean`, `max`, `sequence`).
- `checks`: `LIMITS` (the tolerances of every check) and `check_onnx` /
  `check_savedmodel` (an exported file against the Keras model).
- `files`: `export_model` (ONNX or SavedModel) and `run(ExportSettings)`
  (`astromer-export`: export, check, then rename into place).
- `metadata`: the `HubPreprocessor` saved in an exported model (ONNX
  metadata, a SavedModel's `assets.extra/`) and `read_preprocessor`, its
  way back.
- `onnx_ops`: TensorFlow operations tf2onnx lacks, in ONNX ones (AstroCo's
  exact GELU).
"""

from astromer.export.checks import LIMITS, CheckLimits, check_onnx, check_savedmodel, random_hub_inputs
from astromer.export.files import FORMATS, ExportSettings, export_model, run
from astromer.export.hub import hub_model
from astromer.export.metadata import read_preprocessor

__all__ = ["FORMATS", "LIMITS", "CheckLimits", "ExportSettings", "check_onnx", "check_savedmodel", "export_model",
           "hub_model", "random_hub_inputs", "read_preprocessor", "run"]
