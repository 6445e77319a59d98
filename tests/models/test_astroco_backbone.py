"""AstroCoBackbone: masking, padding, serialization, presets, training."""

import functools
import inspect

import keras
import numpy as np
import pytest

from astromer import presets
from astromer.losses import masked_rmse
from astromer.models.astroco_backbone import AstroCoBackbone
from astromer.models.astromer_backbone import AstromerBackbone
from astromer.models.pretrainer import Pretrainer
from tests import harness
from tests.conftest import to_numpy
from tests.harness import check_config, run_backbone_test

WINDOW = 12
tiny_backbone = functools.partial(harness.tiny_backbone, kind="astroco", num_layers=2, window_size=WINDOW,
                                  dropout=0.1, conv_kernel_size=4, ffn_expansion=2)


def random_inputs(n=3, window=WINDOW, seed=0):
    rng = np.random.default_rng(seed)
    pad = np.zeros((n, window), "float32")
    pad[0, 8:] = 1
    pad[1, 10:] = 1
    hidden = (rng.uniform(size=(n, window)) < 0.3).astype("float32") * (1 - pad)
    hidden[:, 0] = 1 - pad[:, 0]  # at least one hidden step per window
    return {
        "magnitudes": (rng.normal(size=(n, window)) * (1 - pad)).astype("float32"),
        "errors": (rng.uniform(0.01, 0.2, (n, window)) * (1 - pad)).astype("float32"),
        "times": (np.sort(rng.uniform(-50, 50, (n, window)), 1) * (1 - pad)).astype("float32"),
        "padding_mask": pad,
        "hidden_mask": hidden,
    }


def outputs(backbone, x, training=False):
    out = backbone(x, training=training)
    return [to_numpy(out["input_embedding"])] + [to_numpy(b) for b in out["block_outputs"]]


def test_output_keys_and_shapes():
    backbone = tiny_backbone()
    out = backbone(random_inputs())
    out = {k: [to_numpy(t) for t in v] if isinstance(v, list) else to_numpy(v) for k, v in out.items()}
    assert set(out) == {"sequence_output", "input_embedding", "block_outputs"}
    assert out["sequence_output"].shape == (3, WINDOW, 8)
    assert out["input_embedding"].shape == (3, WINDOW, 8)
    assert len(out["block_outputs"]) == 2
    np.testing.assert_array_equal(out["block_outputs"][-1], out["sequence_output"])
    assert (backbone.hidden_dim, backbone.window_size, backbone.num_layers) == (8, WINDOW, 2)
    assert [layer.name for layer in backbone.layers if "block" in layer.name] == ["block_0", "block_1"]


@pytest.mark.parametrize("training", [False, True])
def test_padding_never_changes_real_steps(training):
    # Dropout off so that training mode differs only by BatchNorm batch
    # statistics, which must cover real steps only.
    backbone = tiny_backbone(dropout=0.0)
    x = random_inputs()
    real = x["padding_mask"] == 0
    base = outputs(backbone, x, training)

    rng = np.random.default_rng(1)
    changed = {k: v.copy() for k, v in x.items()}
    for name in ("magnitudes", "errors", "times"):
        changed[name][~real] = rng.normal(size=(~real).sum()) * 100
    for got, want in zip(outputs(backbone, changed, training), base):
        np.testing.assert_allclose(got[real], want[real], atol=1e-5)

    # Extra padding: the same windows in a longer model with the same weights.
    longer = tiny_backbone(dropout=0.0, window_size=WINDOW + 5)
    longer.set_weights(backbone.get_weights())
    extended = {
        k: np.concatenate([v, np.full((3, 5), 1.0 if k == "padding_mask" else 3.0, "float32")], 1)
        for k, v in x.items()
    }
    extended["hidden_mask"][:, WINDOW:] = 0
    for got, want in zip(outputs(longer, extended, training), base):
        np.testing.assert_allclose(got[:, :WINDOW][real], want[real], atol=1e-5)


def test_hidden_steps_do_not_leak():
    backbone = tiny_backbone(dropout=0.0)
    x = random_inputs()
    base = outputs(backbone, x)
    hidden = x["hidden_mask"] > 0
    for name in ("magnitudes", "errors", "times"):
        changed = {k: v.copy() for k, v in x.items()}
        changed[name][hidden] += 5.0
        for got, want in zip(outputs(backbone, changed), base):
            # Everywhere: real, hidden and padded steps alike.
            np.testing.assert_array_equal(got, want)
    # The check has teeth: the same change on visible steps is seen.
    visible = (x["hidden_mask"] + x["padding_mask"]) == 0
    changed = {k: v.copy() for k, v in x.items()}
    changed["magnitudes"][visible] += 5.0
    assert not np.allclose(outputs(backbone, changed)[-1], base[-1], atol=1e-3)


def test_attention_scores_skip_padded_keys_only():
    backbone = tiny_backbone(attention_implementation="explicit")
    x = random_inputs()
    scores = to_numpy(backbone.attention_scores(x, block=1))
    assert scores.shape == (3, 2, WINDOW, WINDOW)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    assert scores[0, :, :, 8:].max() == 0.0
    # Hidden placeholders stay visible keys (BERT-style).
    assert scores[0, :, :, 0].min() > 0.0
    with pytest.raises(ValueError, match=r"block must be in \[0, 2\), got 2"):
        backbone.attention_scores(x, block=2)


def test_explicit_and_fused_attention_agree():
    x = random_inputs()
    a = tiny_backbone(attention_implementation="explicit")
    b = tiny_backbone(attention_implementation="fused")
    b.set_weights(a.get_weights())
    np.testing.assert_allclose(outputs(a, x)[-1], outputs(b, x)[-1], atol=1e-5)


def sine_windows(n=64, window=WINDOW, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 10, (n, window)), 1)
    mag = np.sin(t + rng.uniform(0, 2 * np.pi, (n, 1)))
    probe = (rng.uniform(size=(n, window)) < 0.5).astype("float32")
    pad = np.zeros((n, window), "float32")
    pad[: n // 2, -3:] = 1  # half of the windows are shorter
    probe *= 1 - pad
    x = {
        "magnitudes": (mag * (1 - probe) * (1 - pad)).astype("float32"),
        "errors": np.full((n, window), 0.05, "float32") * (1 - pad),
        "times": ((t - t.mean(1, keepdims=True)) * (1 - pad)).astype("float32"),
        "padding_mask": pad,
        "hidden_mask": probe,
    }
    y = {"magnitudes": mag.astype("float32"), "probe_mask": probe}
    return x, y


@pytest.mark.slow  # 22 CPU-s
def test_pretrainer_learns_and_round_trips(tmp_path):
    x, y = sine_windows()
    # One block keeps the train-step compilation short (JAX: seconds per block).
    model = Pretrainer(tiny_backbone(dropout=0.0, num_layers=1))
    model.compile(keras.optimizers.AdamW(3e-3, weight_decay=0.01))
    history = model.fit(x, y, batch_size=16, epochs=30, verbose=0).history
    assert set(history) == {"loss", "rmse", "r2"}
    assert history["rmse"][-1] < 0.8 * history["rmse"][0], history["rmse"]
    # Better than predicting the mean (0): hidden values are read from the
    # neighbours, although their times are hidden too.
    expected = model.predict_on_batch(x)
    rmse = float(masked_rmse(y["magnitudes"], expected, y["probe_mask"]))
    trivial = float(masked_rmse(y["magnitudes"], np.zeros_like(expected), y["probe_mask"]))
    assert rmse < 0.85 * trivial, (rmse, trivial)
    # Training moved the BatchNorm statistics away from their initial values;
    # the saved file must carry them.
    moving = model.backbone.get_layer("block_0").conv_module.batch_norm.moving_mean
    assert np.abs(to_numpy(moving)).max() > 0

    path = tmp_path / "astroco.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Pretrainer) and isinstance(loaded.backbone, AstroCoBackbone)
    assert loaded.backbone.get_config() == model.backbone.get_config()
    np.testing.assert_array_equal(loaded.predict_on_batch(x), expected)


def test_backbone_keras_file_round_trip(tmp_path):
    # sequence_output, every block's output and the input embedding, bit
    # for bit, through .keras and .weights.h5
    _, loaded = run_backbone_test(tiny_backbone(pe_base=1000.0, layer_norm_epsilon=1e-6), random_inputs(), tmp_path)
    assert isinstance(loaded, AstroCoBackbone)


def test_config_round_trip_and_validation():
    backbone = tiny_backbone(
        pe_base=1000.0, conv_kernel_size=3, ffn_expansion=3, attention_implementation="explicit",
        dtype="mixed_bfloat16",
    )
    clone = check_config(backbone)  # with every constructor argument
    assert clone.layer_dtype.name == "mixed_bfloat16"
    assert clone.get_layer("block_1").dtype_policy.name == "mixed_bfloat16"
    for kwargs, message in (
        ({"num_layers": 0}, r"`num_layers` must be a positive integer, got 0"),
        ({"conv_kernel_size": -2}, r"`conv_kernel_size` must be a positive integer, got -2"),
        ({"dropout": 1.2}, r"`dropout` must be in \[0, 1\), got 1.2"),
        ({"attention_implementation": "flash"}, r"Unknown attention_implementation 'flash'"),
    ):
        with pytest.raises(ValueError, match=message):
            tiny_backbone(**kwargs)
    with pytest.raises(ValueError, match=r"Missing input\(s\) \['errors'\]"):
        backbone({k: v for k, v in random_inputs().items() if k != "errors"})


def test_mixed_bfloat16_is_close_to_float32():
    x = random_inputs()
    full = tiny_backbone(dropout=0.0)
    half = tiny_backbone(dropout=0.0, dtype="mixed_bfloat16")
    half.set_weights(full.get_weights())
    want, got = full.predict_on_batch(x), half.predict_on_batch(x)
    assert keras.backend.standardize_dtype(got["sequence_output"].dtype) == "bfloat16"
    real = x["padding_mask"] == 0
    for key in ("input_embedding", "sequence_output"):
        error = to_numpy(got[key], np.float32)[real] - want[key][real]
        relative = np.linalg.norm(error) / np.linalg.norm(want[key][real])
        assert relative < 2e-2, (key, relative)


# Exact counts, derived in the AstroCoBackbone docstring (paper: ~5.9M / ~15.2M).
PRESET_COUNTS = {
    # preset: (all backbone weights, trainable, Pretrainer trainable)
    "astroco-s": (5_934_138, 5_931_930, 5_932_759),
    "astroco-l": (15_196_288, 15_190_144, 15_190_913),
}


@pytest.mark.parametrize("preset", sorted(PRESET_COUNTS))
def test_preset_parameter_counts(preset):
    total, trainable, with_head = PRESET_COUNTS[preset]
    backbone = AstroCoBackbone.from_preset(preset)
    assert backbone.count_params() == total
    assert sum(int(np.prod(w.shape)) for w in backbone.trainable_weights) == trainable
    model = Pretrainer(backbone)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == with_head
    assert backbone.layer_dtype.name == "mixed_bfloat16"


def test_presets_follow_the_paper():
    small, large, a2 = (presets.load_preset(p) for p in ("astroco-s", "astroco-l", "a2"))
    assert small["data"] == a2["data"] and large["data"] == a2["data"]
    for config, (layers, head_dim, lr) in ((small, (4, 69, 7.5e-4)), (large, (12, 64, 7.5e-5))):
        model, training = config["model"], config["pretraining"]
        assert model["class"] == "AstroCoBackbone"
        assert (model["num_layers"], model["num_heads"], model["head_dim"]) == (layers, 4, head_dim)
        assert (model["conv_kernel_size"], model["ffn_expansion"], model["dropout"]) == (32, 4, 0.1)
        assert (model["window_size"], model["dtype"]) == (200, "mixed_bfloat16")
        assert set(model) - {"class"} == set(inspect.signature(AstroCoBackbone.__init__).parameters) - {"self", "kwargs"}
        assert set(training) == set(a2["pretraining"])
        assert training["uncertainty_weighted"] is False and training["optimizer"] == "adamw"
        assert (training["learning_rate"], training["batch_size"], training["patience"]) == (lr, 256, 20)
    with pytest.raises(ValueError, match=r"builds a AstroCoBackbone, not a AstromerBackbone"):
        AstromerBackbone.from_preset("astroco-s")
    backbone = presets.build_backbone("astroco-s", num_layers=1, window_size=20, dtype="float32")
    assert isinstance(backbone, AstroCoBackbone) and backbone.hidden_dim == 276
