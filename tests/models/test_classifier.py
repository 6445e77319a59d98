"""Classifier heads on a backbone. Shared helpers for tests/models/test_baselines.py."""

import keras
import numpy as np
import pytest

from astromer.models.classifier import Classifier
from tests.models.test_serialization import tiny_backbone
from tests.conftest import to_numpy
from tests.harness import run_backbone_test

WINDOW = 12


def classifier(head, window=WINDOW, **kwargs):
    hidden = {} if head == "linear" else {"hidden_units": [8, 8]}
    return Classifier(tiny_backbone(window_size=window, dropout=0.0), 3, head=head, **hidden, **kwargs)


HEADS = {
    "a2": lambda window=WINDOW: classifier("a2", window),
    "max_pool": lambda window=WINDOW: classifier("max_pool", window),
    "linear": lambda window=WINDOW: classifier("linear", window),
    "mean_last": lambda window=WINDOW: classifier("mean_last", window, dropout=0.2, layer_norm=True),
}


def sinusoids(n=64, window=WINDOW, periods=(0.7, 30.0), offsets=(0.0, 0.0), seed=0):
    """Two classes of sinusoids on irregular times, 8..window real steps.

    Windows are centred as `astromer.data` does (zero-mean magnitudes and
    times over the real steps), then `offsets` are added per class.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    per_class = lambda values: to_numpy(values, "float64")[labels][:, None]  # noqa: E731
    t = np.sort(rng.uniform(0, 10, (n, window)), 1)
    real = np.arange(window)[None] < rng.integers(8, window + 1, n)[:, None]
    mean = lambda a: (a * real).sum(1, keepdims=True) / real.sum(1, keepdims=True)  # noqa: E731
    m = np.sin(2 * np.pi * t / per_class(periods) + rng.uniform(0, 2 * np.pi, (n, 1)))
    m = m - mean(m) + per_class(offsets)
    pad = (~real).astype("float32")
    x = {
        "magnitudes": np.where(real, m, 0).astype("float32"),
        "times": np.where(real, t - mean(t), 0).astype("float32"),
        "padding_mask": pad,
        "hidden_mask": np.zeros_like(pad),
    }
    return x, labels


def logits(model, x):
    return to_numpy(model(x, training=False))


def check_padding_never_changes_the_logits(make):
    """`make(window)` builds the model; weights do not depend on the window."""
    x, _ = sinusoids(n=4)
    model = make(WINDOW)
    base = logits(model, x)
    assert base.shape == (4, 3) and np.isfinite(base).all()

    # 1. Garbage on padded steps.
    rng = np.random.default_rng(1)
    noisy = {k: v.copy() for k, v in x.items()}
    pad = x["padding_mask"] > 0
    noisy["magnitudes"][pad] = rng.normal(0, 50, pad.sum())
    noisy["times"][pad] = rng.uniform(-1e3, 1e3, pad.sum())
    np.testing.assert_allclose(logits(model, noisy), base, atol=1e-5)

    # 2. The same light curves in a longer window (4 more padded steps), same weights.
    longer = make(WINDOW + 4)
    longer.set_weights(model.get_weights())
    extended = {k: np.pad(v, ((0, 0), (0, 4))) for k, v in x.items()}
    extended["padding_mask"][:, WINDOW:] = 1
    np.testing.assert_allclose(logits(longer, extended), base, atol=1e-5)

    # 3. A window's logits do not depend on the rest of the batch (same shape,
    # reversed order, so no new compilation).
    np.testing.assert_allclose(logits(model, {k: v[::-1] for k, v in x.items()}), base[::-1], atol=1e-5)


def check_keras_file_and_config_round_trip(model, tmp_path):
    x, _ = sinusoids(n=4)
    return run_backbone_test(model, x, tmp_path)[1]


def check_learns_a_separable_toy_problem(model, learning_rate=1e-2, **data):
    x, y = sinusoids(n=31, **data)
    # An all-padding window in training must not produce NaN (and makes
    # two full batches: no recompilation for a short last batch).
    x = {k: np.concatenate([v, v[:1] * 0]) for k, v in x.items()}
    x["padding_mask"][-1] = 1
    y = np.append(y, 0)
    model.compile(keras.optimizers.Adam(learning_rate))
    history = model.fit(x, y, batch_size=16, epochs=40, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())
    # Training accuracy of the last epoch (the empty window counts too).
    assert history["accuracy"][-1] >= 0.9, history["accuracy"][-5:]


@pytest.mark.parametrize("head", list(HEADS))
def test_padding_never_changes_the_logits(head):
    check_padding_never_changes_the_logits(HEADS[head])


@pytest.mark.parametrize("head", list(HEADS))
def test_keras_file_and_config_round_trip(tmp_path, head):
    loaded = check_keras_file_and_config_round_trip(HEADS[head](), tmp_path)
    assert loaded.freeze_backbone and not loaded.backbone.trainable_weights


@pytest.mark.slow  # 16 CPU-s
def test_trained_model_round_trip_keeps_compile_and_optimizer_state(tmp_path):
    # Max pooling with an all-padding window in the batch: the gradient
    # through the masked maximum must stay finite.
    x, y = sinusoids(n=4)
    x["padding_mask"][0] = 1
    model = classifier("max_pool", freeze_backbone=False)
    model.compile(keras.optimizers.Adam(2e-3))
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(logits(loaded, x), logits(model, x))
    assert loaded.compiled and float(loaded.optimizer.learning_rate) == pytest.approx(2e-3)
    assert int(loaded.optimizer.iterations) == 2
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_frozen_backbone_is_unchanged_by_fit_while_the_head_learns():
    x, y = sinusoids(n=16)
    model = Classifier(tiny_backbone(), 2, head="a2", hidden_units=[8])
    assert model.freeze_backbone and not model.backbone.trainable_weights
    backbone_before = [w.copy() for w in model.backbone.get_weights()]
    head_before = {
        name: [w.copy() for w in model.get_layer(name).get_weights()]
        for name in ("layer_mix", "head_dense_0", "logits")
    }
    model.compile(keras.optimizers.Adam(1e-2))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for before, after in zip(backbone_before, model.backbone.get_weights()):
        np.testing.assert_array_equal(after, before)
    for name, before in head_before.items():
        after = model.get_layer(name).get_weights()
        assert any(not np.allclose(a, b) for a, b in zip(after, before)), name
    gamma = model.gamma_weights()
    assert gamma.shape == (3,) and abs(gamma.sum() - 1) < 1e-6 and not np.allclose(gamma, 1 / 3)

    # Unfreezing (then compiling again) makes the backbone trainable.
    model.freeze_backbone = False
    assert model.backbone.trainable and model.backbone.trainable_weights
    assert not model.get_config()["freeze_backbone"]


def test_embeddings_and_gamma_weights_values():
    x, _ = sinusoids(n=4)
    model = classifier("a2")
    out = model.backbone.predict_on_batch(x)
    real = (1 - x["padding_mask"])[..., None]
    # Uniform gammas: the mean over [input embedding, block 0, block 1].
    mixed = (out["input_embedding"] + sum(out["block_outputs"])) / 3
    expected = (mixed * real).sum(1) / real.sum(1)
    np.testing.assert_allclose(model.embed(x), expected, atol=1e-5)
    np.testing.assert_allclose(model.gamma_weights(), [1 / 3] * 3, atol=1e-7)

    model.get_layer("layer_mix").set_weights([np.array([0.0, 0.0, 50.0], "float32")])
    last = (out["block_outputs"][-1] * real).sum(1) / real.sum(1)
    np.testing.assert_allclose(model.embed(x), last, atol=1e-5)

    max_model = classifier("max_pool")
    seq = max_model.backbone.predict_on_batch(x)["sequence_output"]
    expected = np.where(real > 0, seq, -np.inf).max(1)
    np.testing.assert_allclose(max_model.embed(x), expected, atol=1e-6)
    assert max_model.gamma_weights() is None


@pytest.mark.slow  # 21 CPU-s
def test_a2_head_learns_a_separable_toy_problem():
    # Short vs long periods (noisy vs smooth windows). Trained end to end: a
    # frozen *random* tiny encoder is not a reliable feature extractor (the
    # frozen path has its own test above).
    model = Classifier(
        tiny_backbone(head_dim=8, ff_dim=16, dropout=0.0), 2, hidden_units=[32, 32], freeze_backbone=False
    )
    backbone_before = model.backbone.get_weights()
    check_learns_a_separable_toy_problem(model, learning_rate=5e-3)
    assert any(not np.allclose(a, b) for a, b in zip(model.backbone.get_weights(), backbone_before))


def test_compile_defaults():
    model = classifier("linear")
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 1e-3)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert model.loss.get_config()["from_logits"]
    x, y = sinusoids(n=4)
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}



def test_inputs_are_validated_like_the_backbone():
    model = classifier("a2")
    x, _ = sinusoids(n=4)
    base = logits(model, x)
    # Extra keys (e.g. errors) are dropped; the original (batch, steps, 1) layout is accepted.
    np.testing.assert_array_equal(logits(model, {**x, "errors": np.ones_like(x["times"])}), base)
    np.testing.assert_allclose(logits(model, {k: v[..., None] for k, v in x.items()}), base, atol=1e-6)
    with pytest.raises(ValueError, match=r"windows of 10 steps but this model takes window_size=12"):
        model({k: v[:, :10] for k, v in x.items()})
    with pytest.raises(ValueError, match=r"Missing input\(s\) \['hidden_mask'\]"):
        model({k: v for k, v in x.items() if k != "hidden_mask"})


def test_bad_arguments_echo_the_value():
    backbone = tiny_backbone()
    with pytest.raises(ValueError, match=r"Unknown head 'cls'; use one of"):
        Classifier(backbone, 3, head="cls")
    with pytest.raises(ValueError, match=r"`num_classes` must be an integer >= 2.*got 1"):
        Classifier(backbone, 1)
    with pytest.raises(ValueError, match=r"head='linear' has no hidden layers, got hidden_units=\[16\]"):
        Classifier(backbone, 3, head="linear", hidden_units=[16])
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\), got 1.5"):
        Classifier(backbone, 3, dropout=1.5)
    with pytest.raises(ValueError, match=r"`hidden_units` must be a positive integer, got 0"):
        Classifier(backbone, 3, hidden_units=[8, 0])
    with pytest.raises(TypeError, match=r"must be an astromer backbone.*got Sequential"):
        Classifier(keras.Sequential(), 3)


def test_mixed_precision_head_gives_float32_logits():
    model = Classifier(tiny_backbone(dtype="mixed_bfloat16", dropout=0.0), 3, hidden_units=[8])
    assert model.get_layer("layer_mix").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("head_dense_0").dtype_policy.name == "mixed_bfloat16"
    assert model.output.dtype == "float32"


def test_linear_head_on_an_astroco_backbone_ignores_padding():
    astroco = pytest.importorskip("astromer.models.astroco_backbone")
    backbone = astroco.AstroCoBackbone(
        num_layers=2, num_heads=2, head_dim=4, window_size=WINDOW, conv_kernel_size=3, ffn_expansion=2, dropout=0.0
    )
    model = Classifier(backbone, 3, head="linear")
    x, _ = sinusoids(n=3)
    x["errors"] = np.full_like(x["times"], 0.05)
    logits = model.predict_on_batch  # one compiled graph: faster than eager ops on JAX
    base = logits(x)
    assert base.shape == (3, 3) and model.gamma_weights().shape == (3,)
    pad = x["padding_mask"] > 0
    for key, value in (("magnitudes", 7.0), ("times", 99.0), ("errors", 3.0)):
        x[key][pad] = value
    np.testing.assert_allclose(logits(x), base, atol=1e-5)


def test_feature_classifier_equals_the_frozen_backbone_classifier():
    # Layer mix then masked mean == masked mean per layer then layer mix:
    # the few-shot benchmark trains heads on pooled features only.
    import numpy as np
    from astromer.models.astromer_backbone import AstromerBackbone
    from astromer.models.classifier import Classifier
    from astromer.models.feature_classifier import FeatureClassifier
    from astromer.embedding import Embedder
    from astromer.data.demo import simulate_survey

    backbone = AstromerBackbone(num_layers=2, num_heads=2, head_dim=4, ff_dim=8, window_size=64, dropout=0.0)
    lcs = simulate_survey(6, seed=2, min_obs=20, max_obs=60)  # one window each
    embedder = Embedder(backbone, layer="all")
    _, features = embedder.embed_array(lcs)
    windows = {k: [] for k in ("magnitudes", "times", "padding_mask", "hidden_mask")}
    for _, window, _ in embedder.window_embeddings(lcs):
        for k in ("magnitudes", "times", "padding_mask"):
            windows[k].append(window[k])
        windows["hidden_mask"].append(np.zeros_like(window["padding_mask"]))
    windows = {k: np.stack(v) for k, v in windows.items()}
    for head in ("a2", "linear"):
        full = Classifier(backbone, 3, head=head)
        light = FeatureClassifier(3, head=head, feature_shape=features.shape[1:])
        light.get_layer("layer_mix").gamma.assign([0.3, -0.2, 0.5])
        full.get_layer("layer_mix").gamma.assign([0.3, -0.2, 0.5])
        names = [layer.name for layer in light.layers if layer.weights and layer.name != "layer_mix"]
        for name in names:
            full.get_layer(name).set_weights(light.get_layer(name).get_weights())
        np.testing.assert_allclose(light.predict_on_batch({"features": features}),
                                   full.predict_on_batch(windows), atol=1e-4)
    with pytest.raises(ValueError, match=r"takes features of shape \(dim,\)"):
        FeatureClassifier(3, head="max_pool", feature_shape=(3, 8))


@pytest.mark.parametrize("head,shape", [("a2", (3, 4)), ("max_pool", (4,))])
def test_feature_head_standardisation_uses_the_training_statistics(head, shape, tmp_path):
    # With standardize=True, adapt() must make the head see (x - mean) / std of
    # the adapted set per feature: the same logits as an unstandardised head
    # fed the standardised features by hand.
    from astromer.models.feature_classifier import FeatureClassifier

    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 3.0, (40, *shape)).astype("float32") * np.arange(1, shape[-1] + 1)
    test = rng.normal(5.0, 3.0, (7, *shape)).astype("float32")
    scaled = FeatureClassifier(3, head=head, feature_shape=shape, hidden_units=[8], standardize=True)
    plain = FeatureClassifier(3, head=head, feature_shape=shape, hidden_units=[8])
    scaled.adapt(train)
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(scaled.get_layer(layer.name).get_weights())
    by_hand = (test - train.mean(0)) / train.std(0)
    np.testing.assert_allclose(scaled.predict_on_batch({"features": test}),
                               plain.predict_on_batch({"features": by_hand}), rtol=1e-4, atol=1e-4)
    # A .keras round trip keeps the adapted statistics.
    scaled.save(tmp_path / "head.keras")
    clone = keras.saving.load_model(tmp_path / "head.keras")
    np.testing.assert_allclose(clone.predict_on_batch({"features": test}),
                               scaled.predict_on_batch({"features": test}), rtol=1e-6)


def test_per_band_head_pools_each_band_of_a_joint_backbone(tmp_path):
    # The pooled vector is the mean of the last block's output over each
    # band's real steps, band after band; the model saves and loads with it.
    backbone = tiny_backbone(dropout=0.0, band_names=["B", "R"])
    model = Classifier(backbone, 3, head="mean_last", hidden_units=[8], per_band=True)
    x, _ = sinusoids(n=4)
    x["bands"] = (np.arange(WINDOW)[None] % 3 == 0).astype("int32").repeat(4, 0)   # every third step in R
    sequence = to_numpy(backbone(x)["sequence_output"])
    real = x["padding_mask"] < 0.5
    expected = np.concatenate([
        np.stack([sequence[i][real[i] & (x["bands"][i] == b)].mean(0) for i in range(4)]) for b in (0, 1)], axis=1)
    np.testing.assert_allclose(model.embed(x), expected, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "per_band.keras")
    loaded = keras.saving.load_model(tmp_path / "per_band.keras")
    assert loaded.per_band and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)
    with pytest.raises(ValueError, match="per_band=True needs a joint multi-band backbone"):
        Classifier(tiny_backbone(), 3, per_band=True)
