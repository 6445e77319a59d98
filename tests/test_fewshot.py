"""The few-shot protocol: splits, label checks, and an end-to-end run."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from astromer import fewshot
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def test_make_splits_reproduces_the_fixed_eros_splits():
    labels = pd.read_csv(shared_path("data", "eros1_lmc", "labels.csv"), dtype={"id": str})
    splits, notes = fewshot.make_splits(dict(zip(labels["id"], labels["label"])))
    for (fold, spc), ours in splits.items():
        fixed = pd.read_csv(shared_path("data", "eros1_lmc", "splits", f"fold{fold}_spc{spc}.csv"), dtype={"id": str})
        pd.testing.assert_frame_equal(ours.reset_index(drop=True), fixed)
    # EB (308 in the pool) and Mira (165) are too small for 500 per class
    assert any("'EB'" in n and "< 500" in n for n in notes) and any("'Mira'" in n for n in notes)


def test_protocol_rules_on_a_small_example():
    labels = {f"a{i:02d}": "A" for i in range(40)} | {f"b{i:02d}": "B" for i in range(6)}
    splits, notes = fewshot.make_splits(labels, folds=2, spcs=(3, 10))
    for (fold, spc), frame in splits.items():
        test = frame[frame.split == "test"]
        assert len(test) == 12 + 1  # floor(0.3 * 40) + floor(0.3 * 6)
        train, val = frame[frame.split == "train"], frame[frame.split == "val"]
        assert train.id.str[0].value_counts().to_dict() == {"a": spc, "b": spc}
        assert val.id.str[0].value_counts().to_dict() == {"a": -(-spc // 4), "b": -(-spc // 4)}
        assert not set(test.id) & set(train.id) and not set(test.id) & set(val.id)
        if spc == 3:
            assert train.id.is_unique and not set(train.id) & set(val.id)
    # the test set is shared by every spc of a fold, and differs between folds
    t = lambda f, s: set(splits[(f, s)].query("split == 'test'").id)  # noqa: E731
    assert t(0, 3) == t(0, 10) and t(0, 3) != t(1, 3)
    b_train = splits[(0, 10)].query("split == 'train'").id
    assert b_train.str.startswith("b").sum() == 10 and b_train[b_train.str.startswith("b")].nunique() == 5
    assert any("'B': 5 objects outside the test set < 10" in n for n in notes)


def test_label_table_mismatch_is_counted():
    labels, notes = fewshot.reconcile(["x", "y", "z"], {"x": "A", "y": "B", "ghost": "A", "ghost2": "B"})
    assert labels == {"x": "A", "y": "B"}
    assert notes[0].startswith("2 labelled ids are not in the table") and notes[1].startswith("1 light curves")


def test_summary_and_markdown():
    frame = pd.DataFrame({"method": ["m"] * 4, "spc": [20, 20, 100, 100], "fold": [0, 1, 0, 1],
                          "macro_f1": [0.5, 0.7, 0.8, 0.8]})
    summary = fewshot.summarize(frame)
    row = summary[summary.spc == 20].iloc[0]
    assert row["mean"] == pytest.approx(0.6) and row["std"] == pytest.approx(0.1)  # ddof=0
    md = fewshot.markdown_table(summary, {"reference": [0.1, None]})
    assert "| m | 0.600 ± 0.100 | 0.800 ± 0.000 |" in md and "| reference | 0.100 |  |" in md


def test_command_end_to_end_on_a_small_survey(tmp_path):
    from astromer.data.demo import simulate_survey

    lcs = simulate_survey(60, seed=3, classes=("RRL", "LPV", "noise"), min_obs=30, max_obs=80)
    rows = [(lc.id, t, m, e) for lc in lcs for t, m, e in zip(lc.time, lc.mag, lc.err)]
    pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(tmp_path / "lcs.parquet")
    labels = "id,label\n" + "\n".join(f"{lc.id},{lc.label}" for lc in lcs) + "\nmissing_id,RRL\n"
    (tmp_path / "labels.csv").write_text(labels)
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\nmodel:\n  class: AstromerBackbone\n  num_layers: 1\n  num_heads: 2\n  head_dim: 4\n"
        "  ff_dim: 8\n  window_size: 64\n  dropout: 0.0\n  pe_base: 1000.0\n  mask_token: false\n"
        "pretraining:\n  uncertainty_weighted: false\n  learning_rate: 0.001\n  batch_size: 16\n  epochs: 2\n  patience: 2\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-m", "astromer.cli.fewshot", "--data", str(tmp_path / "lcs.parquet"),
         "--labels", str(tmp_path / "labels.csv"), "--preset", str(tmp_path / "tiny.yaml"),
         "--spc", "4", "8", "--folds", "2", "--methods", "a2", "logreg", "emb_mlp", "--epochs", "30",
         "--attention-maps", "1", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 labelled ids are not in the table" in out.stdout
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(results) == 3 * 2 * 2 and results["macro_f1"].between(0, 1).all()
    for name in ("summary.md", "summary.csv", "macro_f1_vs_spc.png", "gamma_weights.png", "tsne_per_block.png",
                 "confusion_a2_spc4.png", "splits/fold1_spc8.csv"):
        assert (tmp_path / "out" / name).exists(), name
    assert len(list((tmp_path / "out").glob("attention_*.png"))) == 3
    # the splits written follow the protocol and are read back identically
    again, _ = fewshot.make_splits({lc.id: lc.label for lc in lcs}, folds=2, spcs=(4, 8))
    written = fewshot.read_splits(tmp_path / "out" / "splits", 2, (4, 8))
    for key in again:
        pd.testing.assert_frame_equal(again[key].reset_index(drop=True), written[key])
    # every macro-F1 is the one of its confusion matrix
    confusion = pd.read_csv(tmp_path / "out" / "confusion.csv")
    for _, row in results.iterrows():
        m = confusion.query(f"method == '{row['method']}' and spc == {row['spc']} and fold == {row['fold']}")
        matrix = m.pivot(index="true", columns="predicted", values="count").to_numpy()
        tp = np.diag(matrix)
        f1 = np.where(matrix.sum(0) + matrix.sum(1) > 0, 2 * tp / np.maximum(matrix.sum(0) + matrix.sum(1), 1), 0)
        assert abs(f1.mean() - row["macro_f1"]) < 1e-9
        assert matrix.sum() == 3 * 6  # floor(0.3 * 20) test objects per class


def test_only_folds_outside_the_folds_fail_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"only_folds=\[1, 3\]: folds are numbered 0 to 2"):
        fewshot.run([], {}, None, {}, tmp_path, folds=3, only_folds=[3, 1])


def test_head_seeds_average_the_probabilities_of_single_seed_heads():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 12)
    # noisy class-dependent features, so that heads of different seeds differ
    x = (rng.normal(size=(36, 3, 8)) + 0.6 * y[:, None, None]).astype("float32")
    features = SimpleNamespace(mean_layers=x, max_last=x[:, -1])
    rows = {"train": np.arange(0, 36, 2), "val": np.arange(1, 36, 4), "test": np.arange(3, 36, 4)}
    settings = {**fewshot.HEAD_SETTINGS, "epochs": 5}
    singles = [fewshot.train_head("linear", features, y, rows, 3, settings, seed=7 + fewshot.SEED_STRIDE * k)
               for k in range(2)]
    both, gamma = fewshot.train_head("linear", features, y, rows, 3, {**settings, "seeds": 2}, seed=7)
    p0, p1 = (predict.probabilities(rows["test"]) for predict, _ in singles)
    assert np.abs(p0 - p1).max() > 1e-3  # the seeds matter, so the average is a real test
    np.testing.assert_allclose(both.probabilities(rows["test"]), (p0 + p1) / 2, atol=1e-5)
    np.testing.assert_array_equal(both(rows["test"]), np.argmax(p0 + p1, axis=1))
    np.testing.assert_allclose(gamma, (singles[0][1] + singles[1][1]) / 2, atol=1e-6)
    # a head trained again with the same seed is the same head
    again, _ = fewshot.train_head("linear", features, y, rows, 3, settings, seed=7)
    np.testing.assert_allclose(again.probabilities(rows["test"]), p0, atol=1e-6)


def test_head_seeds_below_one_fail(tmp_path):
    with pytest.raises(ValueError, match="Head seeds must be at least 1, got 0"):
        fewshot.run([], {}, None, {}, tmp_path, head_settings={"seeds": 0})


def test_command_rejects_bad_fold_and_seed_options_before_reading_data(capsys):
    from astromer.cli.fewshot import main

    common = ["--data", "missing.parquet", "--labels", "missing.csv"]
    assert main(common + ["--head-seeds", "0"]) == 2
    assert "Head seeds must be at least 1, got 0 (--head-seeds)" in capsys.readouterr().err
    assert main(common + ["--only-fold", "5"]) == 2
    assert "only_folds=[5]: folds are numbered 0 to 2 (--folds 3)" in capsys.readouterr().err
