"""The `light-curve` embedding hub's input format: what an exported
encoder reads (`astromer.export.hub`).

The hub's Astromer models take `(batch, window_size, 1)` float32 inputs:
`input` (magnitudes, each window centred on its own mean), `times` (days,
centred likewise) and `mask_in`, **1 on a valid observation**, 0 on padding
(the opposite polarity of this library's `padding_mask` and of the original
code's `mask_in`, which are 1 on padding); AstroCo also reads `errors` (as
measured: windows centre times and magnitudes, not errors) and a joint
multi-band model `bands` (band indices in `band_names` order).
"""

import numpy as np

from astromer.preprocessing.inference import InferencePreprocessor

HUB_NAMES = {"magnitudes": "input", "times": "times", "padding_mask": "mask_in", "errors": "errors",
             "bands": "bands"}


class HubPreprocessor(InferencePreprocessor):
    """Light curves -> hub inputs (`__call__`), and hub inputs -> the
    backbone's inputs inside an exported graph (`model_inputs`). Windows as
    `InferencePreprocessor` cuts them: the hub's own convention is float64
    centring ("default"); `compat="original"` gives the windows
    `astromer-embed` reads for weights converted from an original checkpoint.
    """

    @property
    def hub_names(self):
        """The exported model's input names, in order."""
        return [HUB_NAMES[name] for name in HUB_NAMES if name in self.input_names or name == "padding_mask"]

    def __call__(self, light_curves):
        """Hub inputs of every window of `light_curves`: `(n, window_size, 1)` float32 arrays."""
        inputs = super().__call__(light_curves)
        out = {HUB_NAMES[name]: inputs[name][..., None].astype(np.float32) for name in inputs if name in HUB_NAMES}
        out["mask_in"] = 1.0 - out["mask_in"]
        return {name: out[name] for name in self.hub_names}

    def model_inputs(self, hub_inputs):
        """The backbone's inputs (nothing hidden) from hub inputs (Keras
        tensors or arrays, `(batch, steps, 1)`)."""
        from keras import ops

        x = {name: ops.squeeze(hub_inputs[HUB_NAMES[name]], -1) for name in HUB_NAMES
             if HUB_NAMES[name] in hub_inputs}
        x["padding_mask"] = 1.0 - x["padding_mask"]
        x["hidden_mask"] = ops.zeros_like(x["padding_mask"])
        return {name: x[name] for name in self.input_names if name in x}
