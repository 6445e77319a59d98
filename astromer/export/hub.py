"""The encoder with the `light-curve` embedding hub's interface.

The hub's Astromer models take three `(batch, 200, 1)` float32 inputs:

- `input`: magnitudes, each window centred on its own mean;
- `times`: times, each window centred on its own mean (days);
- `mask_in`: **1 on a valid observation**, 0 on padding (the opposite
  polarity of this library's `padding_mask` and of the original code's
  `mask_in`, which are 1 on padding);

and give `mean` and `max` `(batch, dim)` (pooled over valid steps) and
`sequence` `(batch, 200, dim)`. AstroCo also reads errors: its export has a
fourth input `errors` (magnitude errors as measured: windows centre times
and magnitudes, not errors).
"""


def hub_model(backbone):
    """A float32 Keras model from the hub's inputs to its outputs around
    `backbone` (inference mode, no hidden steps; a mixed-precision backbone
    is copied to float32). Joint multi-band backbones get a fifth input
    `bands` `(batch, steps, 1)` of band indices (`band_names` order)."""
    import keras
    from keras import ops

    backbone = float32_backbone(backbone)
    steps = int(backbone.window_size)
    names = ["input", "times", "mask_in"]
    if "errors" in backbone.input_names:
        names.append("errors")
    if "bands" in backbone.input_names:
        names.append("bands")
    inputs = {name: keras.Input(shape=(steps, 1), name=name, dtype="float32") for name in names}
    valid = ops.squeeze(inputs["mask_in"], -1)
    x = {"magnitudes": ops.squeeze(inputs["input"], -1), "times": ops.squeeze(inputs["times"], -1),
         "padding_mask": 1.0 - valid, "hidden_mask": ops.zeros_like(valid)}
    if "errors" in inputs:
        x["errors"] = ops.squeeze(inputs["errors"], -1)
    if "bands" in inputs:
        x["bands"] = ops.squeeze(inputs["bands"], -1)
    sequence = ops.cast(backbone(x, training=False)["sequence_output"], "float32")
    weight = ops.expand_dims(valid, -1)
    count = ops.maximum(ops.sum(weight, axis=1), 1.0)
    mean = ops.sum(sequence * weight, axis=1) / count
    # Padded steps can never be the maximum; a window with no valid step
    # gives the lowest float32 (as the mean gives 0).
    maximum = ops.max(ops.where(weight > 0, sequence, -3.4e38), axis=1)
    outputs = {"mean": mean, "max": maximum, "sequence": sequence}
    return keras.Model([inputs[n] for n in names], outputs, name="astromer_hub")


def float32_backbone(backbone):
    """`backbone` in float32: mixed-precision presets (AstroCo: bfloat16)
    keep float32 weights, and ONNX Runtime's CPU kernels want one dtype."""
    policy = backbone.get_config().get("dtype")
    name = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
    if name in (None, "float32"):
        return backbone
    copy = type(backbone).from_config({**backbone.get_config(), "dtype": "float32"})
    copy.set_weights(backbone.get_weights())
    return copy
