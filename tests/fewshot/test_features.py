"""Hand-crafted light-curve features: against the `light-curve` package,
closed forms, short light curves, and the reference baseline."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from astromer.data.lightcurves import LightCurve
from astromer.fewshot.feature_methods import impute_median
from astromer.core.features import (
    feature_extractor,
    light_curve_features,
    periodogram_frequencies,
)

light_curve = pytest.importorskip("light_curve")


def sinusoid(period=3.7, amplitude=0.8, n=150, baseline=300.0, seed=0, oid="sin", band=None):
    rng = np.random.default_rng(seed)
    time = np.sort(rng.uniform(0.0, baseline, n))
    mag = 15.0 + amplitude * np.sin(2 * np.pi * time / period)
    err = np.full(n, 0.05)
    return LightCurve(oid, time, mag, err, band=None if band is None else np.full(n, band))


def test_periodogram_grid_follows_the_reference_rule():
    # EROS-1: longest baseline 893.7 d -> k = 15 (FEATURES.md); the step is at
    # most 2π / (5 T) and the grid ends at 5 cycles per day.
    freqs = periodogram_frequencies(893.72)
    assert len(freqs) == 2 ** 15 + 1
    assert freqs[0] == 0.0 and freqs[-1] == pytest.approx(2 * np.pi * 5)
    assert freqs[1] - freqs[0] <= 2 * np.pi / (5 * 893.72)
    # One step coarser would break the rule.
    assert 2 * np.pi * 5 / 2 ** 14 > 2 * np.pi / (5 * 893.72)
    with pytest.raises(ValueError, match="max_baseline"):
        periodogram_frequencies(0.0)


def test_features_equal_the_packages_own_values():
    lc = sinusoid(n=90, seed=3)
    lc.mag = lc.mag + np.random.default_rng(1).normal(0, 0.05, len(lc))
    table, report = light_curve_features([lc], progress=False)
    assert table.shape == (1, 44) and report.objects_with_nan == 0
    baseline = lc.time.max() - lc.time.min()
    # One feature object at a time, called the package's way.
    expected = {
        "amplitude": light_curve.Amplitude()(lc.time, lc.mag, lc.err)[0],
        "stetson_K": light_curve.StetsonK()(lc.time, lc.mag, lc.err)[0],
        "inter_percentile_range_10": light_curve.InterPercentileRange(0.10)(lc.time, lc.mag, lc.err)[0],
        "linear_fit_slope": light_curve.LinearFit()(lc.time, lc.mag, lc.err)[0],
        "chi2": light_curve.ReducedChi2()(lc.time, lc.mag, lc.err)[0],
    }
    for name, value in expected.items():
        assert table.loc["sin", name] == pytest.approx(value, rel=1e-12), name
    periodogram = light_curve.Periodogram(peaks=3, freqs=periodogram_frequencies(baseline), fast=False)
    np.testing.assert_allclose(table.loc["sin", [c for c in table.columns if c.startswith("periodogram")]],
                               periodogram(lc.time, lc.mag, lc.err), rtol=1e-12)
    assert list(table.columns) == list(feature_extractor(baseline).names)


def test_closed_forms_of_a_pure_sinusoid():
    lc = sinusoid(period=3.7, amplitude=0.8, n=400, baseline=600.0)
    table, _ = light_curve_features([lc], progress=False)
    row = table.loc["sin"]
    # The highest periodogram peak is the period, within the grid's resolution
    # (dP = P^2 dω / 2π); half the peak-to-peak range is the amplitude.
    freqs = periodogram_frequencies(lc.time.max() - lc.time.min())
    resolution = 3.7 ** 2 * (freqs[1] - freqs[0]) / (2 * np.pi)
    assert row["periodogram_period_0"] == pytest.approx(3.7, abs=resolution)
    assert row["amplitude"] == pytest.approx(0.8, rel=1e-3)
    assert row["mean"] == pytest.approx(lc.mag.mean(), rel=1e-12)
    assert row["standard_deviation"] == pytest.approx(lc.mag.std(ddof=1), rel=1e-12)
    assert row["beyond_2_std"] == 0.0  # a sinusoid never leaves 2 sigma (sqrt(2) sigma at most)


def test_short_and_missing_bands_give_nan_and_counts():
    full = sinusoid(oid="full", band="R")
    short = LightCurve("short", np.array([1.0, 2.0]), np.array([15.0, 15.5]), np.array([0.1, 0.1]),
                       band=np.array(["R", "R"]))
    both = sinusoid(oid="both", band="R")
    blue = sinusoid(oid="both", band="B", seed=9)
    both = LightCurve("both", np.concatenate([both.time, blue.time]), np.concatenate([both.mag, blue.mag]),
                      np.concatenate([both.err, blue.err]), band=np.concatenate([both.band, blue.band]))
    table, report = light_curve_features([full, short, both], progress=False)
    assert list(table.index) == ["full", "short", "both"]
    assert table.shape == (3, 88) and table.columns[0] == "B_amplitude"
    # Two observations: kurtosis (needs 4) and a linear fit (needs 3) are NaN.
    assert np.isnan(table.loc["short", "R_kurtosis"]) and np.isnan(table.loc["short", "R_linear_fit_slope"])
    assert not np.isnan(table.loc["short", "R_amplitude"])
    # No B observation: the whole B block is NaN, counted.
    assert table.loc[["full", "short"], [c for c in table.columns if c.startswith("B_")]].isna().all().all()
    assert report.missing_band == {"B": 2, "R": 0}
    assert report.nan_by_feature["R_kurtosis"] == 1 and report.nan_by_feature["B_amplitude"] == 2
    assert report.objects_with_nan == 2
    assert "2 light curves have no B observation" in report.summary()


def test_repeated_times_and_non_finite_rows_are_dropped_and_counted():
    lc = sinusoid(n=60)
    time = np.concatenate([lc.time, lc.time[:3], [np.nan]])
    mag = np.concatenate([lc.mag, lc.mag[:3] + 1.0, [15.0]])
    err = np.full(len(time), 0.05)
    table, report = light_curve_features([LightCurve("x", time, mag, err)], progress=False)
    assert report.rows_dropped == {"all: NaN/inf time, magnitude or error": 1, "all: repeated time (first kept)": 3}
    clean, _ = light_curve_features([lc], progress=False, max_baseline=lc.time.max() - lc.time.min())
    pd.testing.assert_frame_equal(table.reset_index(drop=True), clean.reset_index(drop=True))


def test_impute_median_fills_with_training_medians_and_counts():
    train = np.array([[1.0, np.nan, np.nan], [3.0, 2.0, np.nan], [5.0, 4.0, np.nan]])
    test = np.array([[np.nan, np.nan, 7.0]])
    filled_train, filled_test, count = impute_median(train, test)
    assert count == 3 + 1 + 2
    np.testing.assert_array_equal(filled_train[:, 2], [0.0, 0.0, 0.0])  # all-NaN column -> 0
    np.testing.assert_array_equal(filled_test, [[3.0, 3.0, 7.0]])
    assert filled_train[0, 1] == 3.0 and not np.isnan(train).sum() == 0  # inputs not modified


def eros_subset(fold=0, spc=20):
    """The EROS-1 light curves and labels of one fixed split's objects."""
    from tests.conftest import shared_path

    root = shared_path("data", "eros1_lmc")
    split = pd.read_csv(root / "splits" / f"fold{fold}_spc{spc}.csv", dtype={"id": str})
    table = pd.read_parquet(root / "lightcurves.parquet")
    table = table[table["id"].astype(str).isin(set(split["id"]))]
    labels = pd.read_csv(root / "labels.csv", dtype={"id": str})
    return table, dict(zip(labels["id"], labels["label"])), root / "splits"


@pytest.mark.slow  # 29 CPU-s
def test_features_rf_reproduces_the_reference_cell(tmp_path):
    # The check that the features are right: the reference baseline's
    # macro-F1 on fold 0, 20 per class, EROS_R (FEATURES.md), through the
    # benchmark with no encoder at all.
    from astromer import fewshot
    from astromer.data.lightcurves import iter_light_curves
    from tests.conftest import shared_path

    table, labels, splits = eros_subset()
    reference = pd.read_csv(shared_path("baselines", "eros1_reference_per_fold.csv"))
    expected = reference.query("method == 'light-curve features + RF (R)' and fold == 0 and spc == 20")["macro_f1"]
    settings = fewshot.FewshotSettings(out=str(tmp_path), methods=["features_rf"], spcs=[20], only_folds=[0],
                                       band="EROS_R", splits=str(splits), verbose=False)
    frame = fewshot.run(settings, list(iter_light_curves(table)), labels)
    assert frame["macro_f1"].iloc[0] == pytest.approx(float(expected.iloc[0]), abs=0.02)
    # Per-class F1 next to macro-F1: their mean is the macro-F1.
    per_class = frame[[c for c in frame.columns if c.startswith("f1_")]]
    assert list(per_class.columns) == ["f1_Cep", "f1_EB", "f1_Mira", "f1_RRL"]
    assert per_class.iloc[0].mean() == pytest.approx(frame["macro_f1"].iloc[0], abs=1e-12)
    assert (tmp_path / "per_class_f1.md").read_text().count("| features_rf | 20 |") == 1


def test_feature_table_command_writes_the_table_and_names_absent_bands(tmp_path, capsys):
    from astromer.cli.features import main
    from astromer.data.demo import simulate_table

    data = tmp_path / "lcs.parquet"
    simulate_table(data, 12, seed=1)
    frame = pd.read_parquet(data)
    out = tmp_path / "features.parquet"
    assert main([str(data), "--out", str(out), "--quiet"]) == 0
    table = pd.read_parquet(out)
    n_bands = frame["band"].nunique() if "band" in frame.columns else 1
    assert len(table) == frame["id"].nunique() and table.shape[1] == 1 + 44 * n_bands
    assert (tmp_path / "features.parquet.report.json").exists()
    assert main([str(data), "--out", str(tmp_path / "x.parquet"), "--bands", "nope", "--quiet"]) == 2
    assert "Band(s) ['nope'] are not in the light curves" in capsys.readouterr().err


def test_features_with_embeddings_head_accepts_nan_features(capsys):
    # The MLP on features + embeddings: NaN features (a missing band, too
    # few observations) are imputed with the training median and counted.
    from astromer.fewshot.feature_methods import run_features, score_with_embeddings
    from astromer.fewshot.methods import Cell, Run
    from astromer.fewshot.settings import fewshot_settings

    rng = np.random.default_rng(0)
    ids = [f"o{i}" for i in range(60)]
    y = {oid: i % 2 for i, oid in enumerate(ids)}
    lcs = [sinusoid(period=2.0 + 3.0 * y[oid], oid=oid, n=40, seed=i) for i, oid in enumerate(ids)]
    lcs[0] = LightCurve("o0", lcs[0].time[:2], lcs[0].mag[:2], lcs[0].err[:2])  # too short: NaN features

    class Encoder:  # stands in for EncoderFeatures: (N, layers, dim) pooled means
        def __init__(self):
            self.ids = ids
            self.mean_layers = rng.normal(size=(len(ids), 2, 8)) + np.array([y[i] for i in ids])[:, None, None]
            self.index = {oid: i for i, oid in enumerate(ids)}

        def rows(self, which):
            return np.array([self.index[i] for i in which])

    run = Run(fewshot_settings(["heads.epochs=5"], verbose=False), lcs, y, ["0", "1"])
    cell = Cell(run, fold=0, spc=20, ids={"train": ids[:40], "val": ids[40:50], "test": ids[50:]},
                features={"single": Encoder()})
    predicted, truth, _ = score_with_embeddings("features_emb_mlp", cell, "single")
    assert len(predicted) == 10 and set(predicted) <= {0, 1}
    np.testing.assert_array_equal(truth, [y[i] for i in ids[50:]])
    imputed = cell.run.shared["imputed"][("features_emb_mlp", 20, 0)]
    assert imputed == int(np.isnan(run_features(cell)[0]).sum()) > 0
    assert "were NaN and were replaced by the training median" in capsys.readouterr().out


def test_stacking_probabilities_of_training_objects_are_out_of_fold():
    # Each object has its own embedding dimension and a random label: a
    # regression that saw an object recognises it (its label's probability
    # near 1); one that did not is at chance. Repeats of an object (the
    # splits draw with repetition) must be held out together.
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from astromer.fewshot.feature_methods import out_of_fold_probabilities

    rng = np.random.default_rng(0)
    objects = np.array([f"o{i}" for i in range(40)])
    label = np.tile([0, 1], 20)
    rows = np.concatenate([np.arange(40), rng.integers(0, 40, 40)])  # 40 repeats
    ids, y = objects[rows], label[rows]
    embedding = np.eye(40)[rows] * 5
    test = np.eye(40)[:6] * 5
    train_p, (test_p,) = out_of_fold_probabilities(embedding, y, ids, [test], num_classes=3, c=0.1, folds=5)
    truth = train_p[np.arange(len(y)), y]
    assert abs(truth.mean() - 0.5) < 0.05  # chance
    seen = LogisticRegression(C=0.1, max_iter=5000, class_weight="balanced").fit(
        StandardScaler().fit_transform(embedding), y)
    assert seen.predict_proba(StandardScaler().fit_transform(embedding))[np.arange(len(y)), y].mean() > 0.75
    # test objects: the regression on every training row, which saw them
    assert (test_p[np.arange(6), label[:6]] > 0.75).all()
    # rows are distributions over the 3 classes; class 2 never trained: 0
    np.testing.assert_allclose(train_p.sum(1), 1.0)
    assert (train_p[:, 2] == 0).all() and (test_p[:, 2] == 0).all()
    with pytest.raises(ValueError, match="at least 2 distinct training objects of every class"):
        out_of_fold_probabilities(embedding[:3], [0, 1, 1], ["a", "b", "c"], [], num_classes=2, c=0.1, folds=5)


def _noise_features_cell(seed, num_classes):
    """A few-shot cell of 80 objects in two alternating classes whose light
    curves are noise (features that do not separate the classes) and whose
    embedding (last layer) does: `(cell, ids, labels, embedding)`."""
    from astromer.fewshot.methods import Cell, Run
    from astromer.fewshot.settings import FewshotSettings

    rng = np.random.default_rng(seed)
    ids = [f"o{i}" for i in range(80)]
    y = {oid: i % 2 for i, oid in enumerate(ids)}
    lcs = [LightCurve(oid, np.sort(rng.uniform(0, 100, 40)), rng.normal(15, 0.1, 40), np.full(40, 0.1))
           for oid in ids]
    labels = np.array([y[i] for i in ids])
    embedding = rng.normal(size=(80, 8)) + 3 * labels[:, None]

    class Encoder:
        def __init__(self):
            self.ids = ids
            self.mean_layers = np.stack([np.zeros_like(embedding), embedding], axis=1)
            self.index = {oid: i for i, oid in enumerate(ids)}

        def rows(self, which):
            return np.array([self.index[i] for i in which])

    run = Run(FewshotSettings(verbose=False), lcs, y, [str(c) for c in range(num_classes)])
    cell = Cell(run, fold=0, spc=20, ids={"train": ids[:40] + ids[:10], "val": ids[40:50], "test": ids[50:]},
                features={"single": Encoder()})
    return cell, ids, labels, embedding


def test_stacking_method_reads_features_and_embeddings():
    # "features_emb_stack" on a cell whose embedding separates the classes
    # and whose features do not (pure noise light curves): the forest must
    # use the stacked probabilities to classify the test objects.
    from astromer.fewshot.feature_methods import score_features, score_with_embeddings

    cell, _, labels, _ = _noise_features_cell(1, num_classes=2)
    predicted, truth, _ = score_with_embeddings("features_emb_stack", cell, "single")
    np.testing.assert_array_equal(truth, labels[50:])
    assert (predicted == truth).mean() >= 0.9
    features_only, _, _ = score_features("features_rf", cell)
    assert (features_only == truth).mean() < 0.8  # the features alone are noise


def test_blend_is_the_weighted_mean_of_forest_and_embedding_regression():
    # Features that are noise and an embedding that separates the classes:
    # weight 0 is the reference forest alone (the "features_rf" row's
    # predictions), weight 1 the regression alone (accurate), any weight the
    # convex combination; a class absent from training gets probability 0.
    from astromer.fewshot.feature_methods import blend_probabilities, run_features, score_features, score_with_embeddings

    cell, ids, labels, embedding = _noise_features_cell(2, num_classes=3)
    values, index, _ = run_features(cell)
    features = values[[index[i] for i in ids]]
    rows = {name: np.array([ids.index(i) for i in split]) for name, split in cell.ids.items()}
    settings = cell.run.settings.features
    BLEND_WEIGHT = settings.blend_weight
    only_forest, _ = blend_probabilities(features, embedding, labels, rows, 3, replace(settings, blend_weight=0.0))
    only_regression, _ = blend_probabilities(features, embedding, labels, rows, 3, replace(settings, blend_weight=1.0))
    blended, _ = blend_probabilities(features, embedding, labels, rows, 3, settings)
    np.testing.assert_allclose(blended, (1 - BLEND_WEIGHT) * only_forest + BLEND_WEIGHT * only_regression)
    np.testing.assert_allclose(blended.sum(1), 1.0)
    assert (blended[:, 2] == 0).all()
    truth = labels[50:]
    forest_predicted, _, _ = score_features("features_rf", cell)
    np.testing.assert_array_equal(only_forest.argmax(1), forest_predicted)
    assert (only_forest.argmax(1) == truth).mean() < 0.8  # the features are noise
    assert (only_regression.argmax(1) == truth).mean() >= 0.9
    predicted, method_truth, _ = score_with_embeddings("features_emb_blend", cell, "single")
    np.testing.assert_array_equal(method_truth, truth)
    np.testing.assert_array_equal(predicted, blended.argmax(1))
