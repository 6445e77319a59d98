"""Supervised finetuning: encoder and head trained end to end on few labels."""

from dataclasses import replace

import keras
import numpy as np
import pandas as pd
import pytest

from astromer.fewshot.settings import method_settings
from astromer.fewshot.supervised import class_weights, train_end_to_end
from tests.conftest import shared_path
from tests.fewshot.test_features import eros_subset
from tests.harness import tiny_backbone, tiny_pretrainer

FAST = {"warmup_epochs": 4, "epochs": 4, "patience": 4, "encoder_learning_rate": 1e-4}
# XLA (the default) costs seconds of compiling per phase, more than these
# few-epoch runs train; the test on the real subset keeps it.
EAGER = {"xla": False}


def _settings(changes):
    """The supervised settings of the preset data with `changes`."""
    return replace(method_settings()["supervised"], **changes)


def test_class_weights_make_every_class_weigh_the_same():
    labels = [0, 0, 0, 1, 2, 2]
    weights = class_weights(labels, 4)
    # n / (k n_c) with n = 6, k = 3 classes present: 2/3, 2, 1; class 3 absent.
    np.testing.assert_allclose(weights, [2 / 3, 2.0, 1.0, 0.0])
    per_class = [weights[c] * labels.count(c) for c in range(3)]
    np.testing.assert_allclose(per_class, [2.0, 2.0, 2.0])


@pytest.fixture(scope="module")
def eros_fold0():
    from astromer.data.lightcurves import iter_light_curves

    table, labels, splits = eros_subset(0, 20)
    split = pd.read_csv(splits / "fold0_spc20.csv", dtype={"id": str})
    light_curves = {lc.id: lc for lc in iter_light_curves(table)}
    classes = sorted(set(labels.values()))
    y = {oid: classes.index(labels[oid]) for oid in light_curves}
    ids = {k: list(split.loc[split["split"] == k, "id"]) for k in ("train", "val", "test")}
    return light_curves, y, ids


@pytest.mark.slow  # 92 CPU-s
def test_supervised_finetuning_moves_the_encoder_and_lowers_the_validation_loss(a1_model, eros_fold0):
    light_curves, y, ids = eros_fold0
    before = [w.copy() for w in a1_model.backbone.get_weights()]
    classifier = train_end_to_end(a1_model, light_curves, ids, y, _settings(FAST), band="EROS_R", seed=0)
    history = classifier.history
    # End to end beats the frozen-encoder head on the validation objects, so
    # its weights are the ones kept, and they differ from the published ones.
    assert min(history["end_to_end"]["val_loss"]) < min(history["warmup"]["val_loss"])
    assert history["best_val_loss"] == min(history["end_to_end"]["val_loss"])
    after = classifier.model.backbone.get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(after, before)) > 1e-4
    # The given model is left as it was (a copy is trained).
    assert all(np.array_equal(a, b) for a, b in zip(a1_model.backbone.get_weights(), before))
    # Object-level probabilities: one row per id (repeats kept), rows sum to 1.
    probs = classifier.probabilities(ids["val"][:3] + ids["val"][:1])
    assert probs.shape == (4, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs[3], probs[0])


@pytest.mark.slow  # 72 CPU-s
def test_finetune_supervised_runs_on_two_classes_at_twenty_per_class(tmp_path):
    # A 2-class task at 20 per class through the command's workflow: splits
    # drawn (no --splits), the published weights, the "supervised" row added.
    from astromer.fewshot import FewshotSettings, run_from_files

    table, labels, _ = eros_subset(0, 100)
    two = {oid: label for oid, label in labels.items() if label in ("Mira", "RRL")}
    table = table[table["id"].astype(str).isin(two) & (table["band"] == "EROS_R")]
    data, label_file = tmp_path / "lcs.parquet", tmp_path / "labels.csv"
    table.to_parquet(data)
    pd.DataFrame({"id": list(two), "label": list(two.values())}).to_csv(label_file, index=False)
    frame = run_from_files(FewshotSettings(data=str(data), labels=str(label_file), out=str(tmp_path / "run"),
                                           weights=str(shared_path("weights", "astromer1-macho")), spcs=[20], folds=1,
                                           methods=["logreg"], finetune=["supervised"],
                                           supervised=_settings({**FAST, **EAGER})))
    assert list(frame["method"]) == ["logreg", "supervised"]
    assert list(frame.columns[-2:]) == ["f1_Mira", "f1_RRL"]
    assert (frame["macro_f1"] > 0.5).all()  # two well-separated classes, above chance


@pytest.mark.parametrize("kind", ["astroco", "joint"])
@pytest.mark.slow  # 31 and 26 CPU-s
def test_supervised_finetuning_reads_astroco_and_joint_multiband_encoders(kind):
    # The same call on an AstroCo encoder (errors input) and on a joint
    # multi-band encoder (every band, band indices); light curves longer than
    # the window give a random window per epoch.
    from astromer.data.demo import simulate_survey
    from astromer.models.pretrainer import Pretrainer

    if kind == "astroco":
        backbone = tiny_backbone(32, kind="astroco", dropout=0.0)
        curves = simulate_survey(24, seed=3, min_obs=20, max_obs=80)
    else:
        backbone = tiny_backbone(32, dropout=0.0, band_names=["B", "R"])
        curves = simulate_survey(24, seed=3, min_obs=20, max_obs=80, bands=["B", "R"])
    by_id = {lc.id: lc for lc in curves}
    ids = list(by_id)
    y = {oid: i % 2 for i, oid in enumerate(ids)}
    before = [w.copy() for w in backbone.get_weights()]
    classifier = train_end_to_end(Pretrainer(backbone), by_id, {"train": ids[:16], "val": ids[16:20]}, y,
                                  _settings({"warmup_epochs": 1, "epochs": 2, "batch_size": 8, "head": "a2", **EAGER}))
    assert set(classifier.history) >= {"warmup", "best_val_loss"}
    # a joint encoder's head reads each band's pooled steps
    assert classifier.model.per_band == (kind == "joint")
    assert getattr(classifier.model.get_layer("pooling"), "num_bands", None) == (2 if kind == "joint" else None)
    probs = classifier.probabilities(ids[20:])
    assert probs.shape == (4, 2) and np.isfinite(probs).all()
    # The given encoder is untouched.
    assert all(np.array_equal(a, b) for a, b in zip(backbone.get_weights(), before))


def test_several_bands_make_a_single_band_encoder_joint():
    from astromer.fewshot.supervised import encoder_for_bands

    single = tiny_pretrainer(16)
    assert encoder_for_bands(single, ["R"]) is single and encoder_for_bands(single, None) is single
    joint = encoder_for_bands(single, ["B", "R"])
    assert joint.backbone.band_names == ["B", "R"]
    # every weight of the single-band encoder carries over
    names = {w.path.split("/", 1)[-1]: w for w in joint.backbone.weights}
    for w in single.backbone.weights:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(names[w.path.split("/", 1)[-1]]),
                                      keras.ops.convert_to_numpy(w))


def test_evaluation_windows_are_full_like_the_training_windows():
    # Training reads one full random window of a long light curve; reading
    # a short tail window at evaluation (40 of 240 two-band observations)
    # put validation out of the training distribution and made the head
    # collapse on both EROS bands. Every evaluation window is now full.
    from astromer.preprocessing import ClassificationPreprocessor

    def windows(array, bands, size, start=None):
        return ClassificationPreprocessor(size).windows((array, bands), start)

    rng = np.random.default_rng(0)

    def curve(n):
        return np.stack([np.sort(rng.uniform(0, 900, n)), rng.normal(0, 0.3, n), np.full(n, 0.05)], 1)

    for n, count in ((240, 2), (400, 2), (150, 1), (401, 3)):
        w = windows(curve(n), None, 200)
        assert len(w["magnitudes"]) == count, n
        real = (1 - w["padding_mask"]).sum(1)
        assert (real == min(n, 200)).all(), (n, real)
    # a training window (start given) is one window
    assert len(windows(curve(240), None, 200, start=17)["magnitudes"]) == 1


def _random_windows(rng, n, window, bands=False):
    padding = (np.arange(window)[None] >= rng.integers(3, window + 1, n)[:, None]).astype("float32")
    x = {"magnitudes": rng.normal(size=(n, window)).astype("float32"),
         "times": np.sort(rng.uniform(0, 100, (n, window)), 1).astype("float32"),
         "padding_mask": padding, "hidden_mask": np.zeros((n, window), "float32")}
    if bands:
        x["bands"] = (rng.integers(0, 2, (n, window)) * (1 - padding)).astype("float32")
    return x


@pytest.mark.parametrize("head,joint", [("a2", False), ("a2", True), ("mean_last", False), ("linear", False),
                                        ("max_pool", False), ("max_pool", True)])
def test_the_head_on_pooled_encoder_outputs_is_the_classifier(head, joint):
    # Mixing layers then averaging over steps = averaging each layer then
    # mixing (max pooling has no mix): the warm-up's head on outputs pooled
    # once is the classifier.
    from astromer.fewshot.supervised import pooled_head_models
    from astromer.models.astromer_backbone import AstromerBackbone
    from astromer.models.classifier import Classifier

    backbone = AstromerBackbone(num_layers=2, num_heads=2, head_dim=8, ff_dim=16, window_size=20, dropout=0.0,
                                band_names=["B", "R"] if joint else None)
    model = Classifier(backbone, 3, head=head, hidden_units=[] if head == "linear" else [8], dropout=0.5,
                       standardize=True, per_band=joint)
    x = _random_windows(np.random.default_rng(0), 9, 20, bands=joint)
    model.adapt(x)
    if head in ("a2", "linear"):
        model.get_layer("layer_mix").gamma.assign([0.3, -1.0, 2.0])  # not the plain average
    pooled, head_model = pooled_head_models(model)
    features = pooled.predict(x, verbose=0)
    dim = 32 if joint else 16
    assert features.shape == ((9, dim) if head in ("mean_last", "max_pool") else (9, 3, dim))
    np.testing.assert_allclose(head_model.predict({"features": features}, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)
    # one set of head weights: training the head model trains the classifier
    assert {id(w) for w in head_model.trainable_weights} <= {id(w) for w in model.weights}


@pytest.mark.slow  # 36 CPU-s
def test_the_warmup_on_pooled_outputs_follows_the_full_classifier(a1_model, eros_fold0, monkeypatch):
    # The same warm-up (seed, batches, dropout) with the encoder run every
    # epoch: the same validation losses.
    import astromer.fewshot.supervised as supervised

    light_curves, y, ids = eros_fold0
    # Head dropout 0: the comparison must not depend on how a backend draws
    # dropout masks in two different graphs.
    settings = {"warmup_epochs": 3, "epochs": 0, "head_dropout": 0.0, **EAGER}
    fast = train_end_to_end(a1_model, light_curves, ids, y, _settings(settings), band="EROS_R", seed=1)
    monkeypatch.setattr(supervised, "pooled_head_models", lambda model: None)
    full = train_end_to_end(a1_model, light_curves, ids, y, _settings(settings), band="EROS_R", seed=1)
    np.testing.assert_allclose(fast.history["warmup"]["val_loss"], full.history["warmup"]["val_loss"], rtol=1e-3)
    np.testing.assert_allclose(fast.history["warmup"]["loss"], full.history["warmup"]["loss"], rtol=1e-3)


@pytest.mark.slow  # 17 CPU-s
def test_progress_reports_each_phase_with_its_epochs_and_best_validation_loss(capsys):
    # The line a user reads during an hour-long cell must agree with the
    # history the classifier keeps: epochs run, best loss and its epoch.
    from astromer.data.demo import simulate_survey
    from astromer.models.pretrainer import Pretrainer

    backbone = tiny_backbone(32, dropout=0.0)
    by_id = {lc.id: lc for lc in simulate_survey(24, seed=5, min_obs=20, max_obs=30)}
    ids = list(by_id)
    y = {oid: i % 2 for i, oid in enumerate(ids)}
    classifier = train_end_to_end(Pretrainer(backbone), by_id, {"train": ids[:16], "val": ids[16:20]}, y,
                                  _settings({"warmup_epochs": 3, "epochs": 2, "batch_size": 8, **EAGER}),
                                  label="cell 7")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("cell 7 ")]
    assert len(lines) == 2
    history = classifier.history
    for line, phase in zip(lines, ("warmup", "end_to_end")):
        losses = history[phase]["val_loss"]
        expected = (f"cell 7 {phase}: {len(losses)} epochs, best validation loss {min(losses):.4f} "
                    f"(epoch {int(np.argmin(losses)) + 1})")
        assert line.startswith(expected), (line, expected)
    # The second phase is kept only when it beats the first, and the line says which.
    undone = min(history["end_to_end"]["val_loss"]) >= min(history["warmup"]["val_loss"])
    assert ("undone" in lines[1]) == undone
    assert history["best_val_loss"] == min(min(history["warmup"]["val_loss"]),
                                            min(history["end_to_end"]["val_loss"]))
