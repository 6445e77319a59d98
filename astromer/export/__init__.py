"""Exporting an encoder for the tools light-curve users embed with.

- `hub`: the encoder wrapped with the inputs and outputs of the
  `light-curve` package's embedding hub (`input`, `times`, `mask_in` ->
  `mean`, `max`, `sequence`).
- `files`: `export_model` (ONNX or SavedModel) and `check_onnx` (the
  exported file under onnxruntime against the Keras model).
"""

from astromer.export.files import FORMATS, check_onnx, export_model, export_workflow, random_hub_inputs
from astromer.export.hub import hub_model

__all__ = ["FORMATS", "check_onnx", "export_model", "export_workflow", "hub_model", "random_hub_inputs"]
