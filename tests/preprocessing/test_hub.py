"""HubPreprocessor: the hub's inputs are the inference inputs with the mask
flipped, and `model_inputs` turns them back into the backbone's."""

import numpy as np

from astromer.preprocessing import HubPreprocessor, InferencePreprocessor


def test_hub_inputs_round_trip(eros_r):
    names = ("magnitudes", "errors", "times", "padding_mask", "hidden_mask")  # AstroCo's
    hub = HubPreprocessor(input_names=names, compat="original")
    assert hub.hub_names == ["input", "times", "mask_in", "errors"]
    arrays = hub(eros_r[:5])
    inputs = InferencePreprocessor(input_names=names, compat="original")(eros_r[:5])
    np.testing.assert_array_equal(arrays["input"][..., 0], inputs["magnitudes"])
    np.testing.assert_array_equal(arrays["mask_in"][..., 0], 1 - inputs["padding_mask"])
    back = {k: np.asarray(v) for k, v in hub.model_inputs(arrays).items()}
    assert sorted(back) == sorted(names)
    for name in names:
        np.testing.assert_array_equal(back[name], inputs[name])
