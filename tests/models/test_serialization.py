"""Keras-native save/load, SavedModel export, and input validation."""

import functools

import keras
import numpy as np
import pytest

from astromer.models.astromer_backbone import AstromerBackbone
from astromer.models.pretrainer import Pretrainer
from tests import harness
from tests.conftest import requires_tensorflow_backend, to_numpy
from tests.harness import check_config, run_backbone_test

# Two blocks (outputs are compared block by block), window 12; also the
# backbone of tests/models/test_classifier.py and test_pretrainer.py.
tiny_backbone = functools.partial(harness.tiny_backbone, num_layers=2, window_size=12, dropout=0.1)


def random_inputs(n=3, window=12, seed=0):
    rng = np.random.default_rng(seed)
    pad = np.zeros((n, window), "float32")
    pad[0, 8:] = 1
    hidden = (rng.uniform(size=(n, window)) < 0.3).astype("float32") * (1 - pad)
    return {
        "magnitudes": (rng.normal(size=(n, window)) * (1 - pad)).astype("float32"),
        "times": (np.sort(rng.uniform(-50, 50, (n, window)), 1) * (1 - pad)).astype("float32"),
        "padding_mask": pad,
        "hidden_mask": hidden,
    }


@pytest.mark.parametrize("kwargs", [{}, {"use_leak": True, "mask_alpha": -0.5, "mask_token": False}])
def test_keras_file_round_trip(tmp_path, kwargs):
    # The same outputs after a .keras and a .weights.h5 round trip.
    model = Pretrainer(tiny_backbone(**kwargs), uncertainty_weighted=True)
    _, loaded = run_backbone_test(model, random_inputs(), tmp_path)
    assert isinstance(loaded, Pretrainer) and isinstance(loaded.backbone, AstromerBackbone)
    assert loaded.uncertainty_weighted and loaded.backbone.get_config() == model.backbone.get_config()


def test_weights_file_round_trip(tmp_path):
    # Every output (sequence, blocks, input embedding) through .keras and
    # .weights.h5; a fresh copy's own weights give other outputs.
    run_backbone_test(tiny_backbone(), random_inputs(), tmp_path)


def test_backbone_config_has_every_argument():
    check_config(tiny_backbone(pe_base=1000.0, temperature=2.0, attention_implementation="explicit"))


def test_saved_model_export(tmp_path):
    requires_tensorflow_backend()
    import tensorflow as tf

    model = Pretrainer(tiny_backbone())
    x = random_inputs()
    expected = model.predict_on_batch(x)
    model.export(str(tmp_path / "served"), format="tf_saved_model")
    served = tf.saved_model.load(str(tmp_path / "served"))
    out = served.serve({k: tf.constant(v) for k, v in x.items()})
    np.testing.assert_allclose(to_numpy(out), expected, atol=1e-6)


def test_explicit_and_fused_attention_agree():
    x = random_inputs()
    a = tiny_backbone(attention_implementation="explicit")
    b = tiny_backbone(attention_implementation="fused")
    b.set_weights(a.get_weights())
    np.testing.assert_allclose(
        a.predict_on_batch(x)["sequence_output"], b.predict_on_batch(x)["sequence_output"], atol=1e-5
    )


def test_hidden_steps_do_not_leak_with_paper_masking():
    # Paper settings: a hidden step's magnitude must not influence any real
    # step's output (token + excluded keys), nor may padding.
    backbone = tiny_backbone(dropout=0.0)
    x = random_inputs(n=1)
    base = backbone.predict_on_batch(x)["sequence_output"]
    changed = {k: v.copy() for k, v in x.items()}
    changed["magnitudes"][x["hidden_mask"] > 0] += 5.0
    changed["magnitudes"][x["padding_mask"] > 0] += 7.0
    out = backbone.predict_on_batch(changed)["sequence_output"]
    visible = (x["hidden_mask"] + x["padding_mask"])[0] == 0
    np.testing.assert_allclose(out[0, visible], base[0, visible], atol=1e-5)


def test_bad_inputs_have_clear_errors():
    backbone = tiny_backbone()
    x = random_inputs()
    with pytest.raises(ValueError, match=r"windows of 10 steps but this model takes window_size=12"):
        backbone({k: v[:, :10] for k, v in x.items()})
    with pytest.raises(ValueError, match=r"Missing input\(s\) \['hidden_mask'\]"):
        backbone({k: v for k, v in x.items() if k != "hidden_mask"})
    with pytest.raises(ValueError, match=r"'times' must have shape \(batch, 12\); got shape \(3, 12, 2\)"):
        backbone({**x, "times": np.zeros((3, 12, 2), "float32")})
    bad = {k: v.copy() for k, v in x.items()}
    bad["magnitudes"][1, 4] = np.nan
    bad["magnitudes"][2, 0] = np.inf
    with pytest.raises(ValueError, match=r"'magnitudes' has 2 NaN/inf value\(s\) \(first at window 1, step 4\)"):
        backbone(bad)
    with pytest.raises(TypeError, match="takes a dict"):
        backbone(x["magnitudes"])
    # The original (batch, steps, 1) layout is accepted.
    legacy = {k: v[..., None] for k, v in x.items()}
    np.testing.assert_allclose(
        to_numpy(backbone(legacy)["sequence_output"]), to_numpy(backbone(x)["sequence_output"]), atol=1e-6
    )


def test_mixed_precision_keeps_times_and_magnitudes_exact():
    # Under mixed_bfloat16, 40.0 and 40.1 days are the same bfloat16 number:
    # the embedding must see the float32 values.
    backbone = tiny_backbone(dtype="mixed_bfloat16", dropout=0.0)
    x = random_inputs(n=1)
    x["times"][0, :3] = [40.0, 40.1, 40.2]
    emb = to_numpy(keras.ops.cast(backbone(x)["input_embedding"], "float32"))
    assert not np.allclose(emb[0, 0], emb[0, 1], atol=1e-3)
    reference = tiny_backbone(dropout=0.0)
    reference.set_weights(backbone.get_weights())
    ref = reference(x)
    for key in ("input_embedding", "sequence_output"):
        a = to_numpy(ref[key])
        b = to_numpy(keras.ops.cast(backbone(x)[key], "float32"))
        assert np.linalg.norm(a - b) / np.linalg.norm(a) < 2e-2, key


def padded_in_the_middle(n=4, window=12, seed=1):
    # Padding at the end, in the middle and everywhere (row 3): the sorted
    # path must not assume where masked steps are.
    x = random_inputs(n=n, window=window, seed=seed)
    x["padding_mask"][1, 3:6] = 1
    x["padding_mask"][3] = 1
    x["hidden_mask"] *= 1 - x["padding_mask"]
    return x


def test_sorted_key_lengths_match_the_bias_mask_on_every_output():
    x = padded_in_the_middle()
    a = tiny_backbone(attention_implementation="explicit", dropout=0.0)
    b = tiny_backbone(attention_implementation="lengths", dropout=0.0)
    b.set_weights(a.get_weights())
    out_a, out_b = a.predict_on_batch(x), b.predict_on_batch(x)
    # Rows 0-2 have visible steps; row 3 (all padding) differs by design
    # but must stay finite.
    for name in ("sequence_output", "input_embedding"):
        np.testing.assert_allclose(out_b[name][:3], out_a[name][:3], atol=1e-5)
    for block_a, block_b in zip(out_a["block_outputs"], out_b["block_outputs"]):
        np.testing.assert_allclose(block_b[:3], block_a[:3], atol=1e-5)
    assert np.isfinite(out_b["sequence_output"]).all()
    # Scores for plots come from the explicit path in the original order.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(b.attention_scores(x, block=1)),
        keras.ops.convert_to_numpy(a.attention_scores(x, block=1)),
        atol=1e-6,
    )


def test_sorted_key_lengths_train_like_the_bias_mask():
    # One SGD step from the same weights: same loss and same weight change,
    # i.e. the same gradients through the reordering. (Not Adam: it scales
    # float noise on gradients that are zero in theory, e.g. key biases, to
    # the size of the learning rate.)
    x = random_inputs(n=4, seed=2)
    x["padding_mask"][2, 2:4] = 1
    x["hidden_mask"] *= 1 - x["padding_mask"]
    probe = np.maximum(x["hidden_mask"], (np.random.default_rng(3).uniform(size=(4, 12)) < 0.2)) * (
        1 - x["padding_mask"]
    )
    y = {"magnitudes": x["magnitudes"] + 0.1, "probe_mask": probe.astype("float32"),
         "loss_weight": np.ones((4, 12), "float32")}
    models = []
    for implementation in ("explicit", "lengths"):
        keras.utils.set_random_seed(0)
        model = Pretrainer(tiny_backbone(attention_implementation=implementation, dropout=0.0),
                           uncertainty_weighted=True)
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    start = models[0].get_weights()
    losses = []
    for model in models:
        model.compile(keras.optimizers.SGD(1.0))
        losses.append(float(model.train_on_batch(x, y, return_dict=True)["loss"]))
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    changed = 0
    for w0, w_a, w_b in zip(start, models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(w_b - w0, w_a - w0, atol=1e-5)
        changed += np.abs(w_a - w0).max() > 1e-3
    assert changed > len(start) // 2


def test_sorted_key_lengths_mixed_precision_and_round_trip(tmp_path):
    x = padded_in_the_middle()
    a = tiny_backbone(dropout=0.0)
    b = tiny_backbone(attention_implementation="lengths", dropout=0.0, dtype="mixed_bfloat16")
    b.set_weights(a.get_weights())
    out_b = b.predict_on_batch(x)["sequence_output"]
    np.testing.assert_allclose(
        to_numpy(out_b[:3], "float32"), a.predict_on_batch(x)["sequence_output"][:3], atol=6e-2
    )
    b.save(tmp_path / "b.keras")
    loaded = keras.saving.load_model(tmp_path / "b.keras")
    assert loaded.get_config()["attention_implementation"] == "lengths"
    np.testing.assert_array_equal(loaded.predict_on_batch(x)["sequence_output"], out_b)


@pytest.mark.parametrize("kwargs", [{"mask_alpha": -0.5}, {"mask_alpha": 1.0, "mask_format": "QK"}])
def test_sorted_key_lengths_refuse_soft_masks(kwargs):
    with pytest.raises(ValueError, match=r'needs mask_format="K" and mask_alpha <= -10000.*Use attention_implementation="fused"'):
        tiny_backbone(attention_implementation="lengths", **kwargs)
    with pytest.raises(ValueError, match=r"Unknown attention_implementation 'flash'"):
        tiny_backbone(attention_implementation="flash")


def test_separate_qkv_projections_give_the_same_outputs():
    x = padded_in_the_middle()
    a = tiny_backbone(dropout=0.0)
    b = tiny_backbone(dropout=0.0, fused_qkv=False, attention_implementation="lengths")
    c = tiny_backbone(dropout=0.0, fused_qkv=False, attention_implementation="explicit")
    assert [w.shape for w in b.get_weights()] == [w.shape for w in a.get_weights()]
    b.set_weights(a.get_weights())
    c.set_weights(a.get_weights())
    expected = a.predict_on_batch(x)["sequence_output"][:3]
    np.testing.assert_allclose(b.predict_on_batch(x)["sequence_output"][:3], expected, atol=1e-5)
    np.testing.assert_allclose(c.predict_on_batch(x)["sequence_output"][:3], expected, atol=1e-5)
    assert AstromerBackbone.from_config(b.get_config()).fused_qkv is False
