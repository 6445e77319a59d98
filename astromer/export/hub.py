"""The encoder with the `light-curve` embedding hub's interface: inputs as
`astromer.preprocessing.hub` describes them (`input`, `times`, `mask_in`,
plus `errors` for AstroCo and `bands` for a joint multi-band model), outputs
`mean` and `max` `(batch, dim)` (pooled over valid steps) and `sequence`
`(batch, window_size, dim)`.
"""


def hub_model(backbone):
    """A float32 Keras model from the hub's inputs to its outputs around
    `backbone` (inference mode, no hidden steps; a mixed-precision backbone
    is copied to float32)."""
    import keras
    from keras import ops

    from astromer.preprocessing.hub import HubPreprocessor

    backbone = float32_backbone(backbone)
    hub = HubPreprocessor.from_backbone(backbone, compat="default")
    inputs = {name: keras.Input(shape=(hub.window_size, 1), name=name, dtype="float32") for name in hub.hub_names}
    sequence = ops.cast(backbone(hub.model_inputs(inputs), training=False)["sequence_output"], "float32")
    weight = inputs["mask_in"]
    count = ops.maximum(ops.sum(weight, axis=1), 1.0)
    mean = ops.sum(sequence * weight, axis=1) / count
    # Padded steps can never be the maximum; a window with no valid step
    # gives the lowest float32 (as the mean gives 0).
    maximum = ops.max(ops.where(weight > 0, sequence, -3.4e38), axis=1)
    outputs = {"mean": mean, "max": maximum, "sequence": sequence}
    return keras.Model([inputs[n] for n in hub.hub_names], outputs, name="astromer_hub")


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
