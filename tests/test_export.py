"""astromer-export: ONNX files with the light-curve hub's interface, checked
under onnxruntime against the Keras model."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import requires_tensorflow_backend, shared_path

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")


def eros_hub_windows(count=100):
    """The windows of `count` EROS_R light curves in the hub's format."""
    from astromer.data.cleaning import CleaningConfig, clean_light_curves
    from astromer.data.lightcurves import iter_light_curves
    from astromer.data.windows import sequential_windows

    table = pd.read_parquet(shared_path("data", "eros1_lmc", "lightcurves.parquet"))
    table = table[table["id"].isin(table["id"].drop_duplicates().iloc[:count]) & (table["band"] == "EROS_R")]
    parts = [sequential_windows(lc.as_array(), 200)
             for lc in clean_light_curves(iter_light_curves(table.drop(columns="band")), CleaningConfig())]
    stack = {k: np.concatenate([p[k] for p in parts]) for k in ("magnitudes", "times", "padding_mask")}
    return {"input": stack["magnitudes"][..., None], "times": stack["times"][..., None],
            "mask_in": (1.0 - stack["padding_mask"])[..., None]}


def test_published_a1_exports_and_matches_keras_on_eros(tmp_path):
    requires_tensorflow_backend()
    import astromer
    from astromer.export import check_onnx, export_model

    model = astromer.load_model(shared_path("weights", "astromer1-macho"))
    hub = export_model(model.backbone, tmp_path / "a1.onnx")
    windows = eros_hub_windows()
    assert len(windows["input"]) >= 100
    # the pooled embedding within 1e-4; single steps of A1 (no residuals)
    # within its float-order sensitivity (measured 3.5e-4 here)
    diffs = check_onnx(tmp_path / "a1.onnx", hub, windows, atol=1e-4, atol_steps=1e-3)
    print("A1 ONNX vs Keras:", diffs)
    # the hub's mean output is the Embedder's per-window mean pooling
    from astromer.embedding import Embedder

    pooled = Embedder(model.backbone).pooled_model().predict_on_batch({
        "magnitudes": windows["input"][..., 0], "times": windows["times"][..., 0],
        "padding_mask": 1 - windows["mask_in"][..., 0], "hidden_mask": 0 * windows["mask_in"][..., 0]})
    import keras

    mean = keras.ops.convert_to_numpy(hub([windows[k] for k in ("input", "times", "mask_in")])["mean"])
    np.testing.assert_allclose(mean, np.asarray(pooled), atol=1e-5)

    # Which float32 evaluation is right where they differ: a float64 copy of
    # the encoder. The exported model's steps are no further from it than
    # Keras' own float32 steps are (both about 4e-4 on A1): the 1e-4 the
    # per-step outputs miss is float32's, not the export's.
    exact = float64_sequence(model.backbone, windows)
    valid = windows["mask_in"][..., 0] > 0
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "a1.onnx"), providers=["CPUExecutionProvider"])
    onnx_steps = dict(zip([o.name for o in session.get_outputs()],
                          session.run(None, {k: windows[k].astype(np.float32) for k in ("input", "times", "mask_in")})))
    keras_steps = keras.ops.convert_to_numpy(hub([windows[k] for k in ("input", "times", "mask_in")])["sequence"])
    keras_error = np.abs(keras_steps - exact)[valid].max()
    onnx_error = np.abs(onnx_steps["sequence"] - exact)[valid].max()
    print(f"steps vs float64: Keras {keras_error:.2e}, ONNX {onnx_error:.2e}")
    assert 1e-5 < keras_error < 1e-3 and onnx_error <= 1.25 * keras_error


def float64_sequence(backbone, windows):
    """The last block's output of a float64 copy of `backbone` on the hub
    windows (its float32 magnitude projection and softmax aside)."""
    config = backbone.get_config()
    config["dtype"] = "float64"
    copy = backbone.__class__.from_config(config)
    x = {"magnitudes": windows["input"][..., 0], "times": windows["times"][..., 0],
         "padding_mask": 1.0 - windows["mask_in"][..., 0], "hidden_mask": 0.0 * windows["input"][..., 0]}
    x = {k: np.asarray(v, np.float64) for k, v in x.items() if k in backbone.input_names}
    copy({k: v[:1] for k, v in x.items()})
    copy.set_weights([np.asarray(w, np.float64) if np.asarray(w).dtype == np.float32 and v.dtype == "float64"
                      else np.asarray(w) for w, v in zip(backbone.get_weights(), copy.weights)])
    import keras

    return keras.ops.convert_to_numpy(copy(x, training=False)["sequence_output"])


def test_an_a2_run_exports_through_the_command(tmp_path, capsys):
    requires_tensorflow_backend()
    from astromer import training
    from astromer.cli.export import main

    model = training.build_pretrainer(training.resolve_config("a2", ["model.num_layers=2"]))
    model.save(tmp_path / "a2.keras")
    assert main(["--weights", str(tmp_path / "a2.keras"), "--out", str(tmp_path / "a2.onnx")]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime vs Keras on 4 random windows" in out
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "a2.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input", "times", "mask_in"]
    assert sorted(o.name for o in session.get_outputs()) == ["max", "mean", "sequence"]
    assert session.get_inputs()[0].shape[1:] == [200, 1]  # dynamic batch


def test_a_model_that_cannot_be_exported_names_the_layer(tmp_path):
    requires_tensorflow_backend()
    from astromer.export import export_model
    from astromer.models.astroco_backbone import AstroCoBackbone

    backbone = AstroCoBackbone(num_layers=1, num_heads=2, head_dim=4, window_size=32)
    with pytest.raises(ValueError, match="layer 'fusion' has an operation with no ONNX equivalent"):
        export_model(backbone, tmp_path / "astroco.onnx")
    assert not (tmp_path / "astroco.onnx").exists()


def test_savedmodel_serves_the_hub_outputs(tmp_path):
    requires_tensorflow_backend()
    import keras
    import tensorflow as tf

    from astromer.export import export_model, random_hub_inputs
    from astromer.models.astromer_backbone import AstromerBackbone

    backbone = AstromerBackbone(num_layers=1, num_heads=2, head_dim=4, ff_dim=8, window_size=32)
    hub = export_model(backbone, tmp_path / "saved", format="savedmodel")
    x = random_hub_inputs(hub, 3)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))  # kept: its variables must outlive the call
    served = loaded.serve([x["input"], x["times"], x["mask_in"]])
    expected = hub([x["input"], x["times"], x["mask_in"]])
    for name in ("mean", "max", "sequence"):
        np.testing.assert_allclose(served[name].numpy(), keras.ops.convert_to_numpy(expected[name]), atol=1e-5)
