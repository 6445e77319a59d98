"""`astromer-fewshot` end to end on a small survey, and its option checks."""

import numpy as np
import pandas as pd
import pytest

from astromer import fewshot
from astromer.cli.fewshot import main as fewshot_command
from tests.harness import run_cli


@pytest.mark.slow  # 85 CPU-s: 8 heads trained, figures
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
    out = run_cli(fewshot_command, [
        "--data", tmp_path / "lcs.parquet", "--labels", tmp_path / "labels.csv", "--preset", tmp_path / "tiny.yaml",
        "--spc", "4", "8", "--folds", "2", "--methods", "a2", "logreg", "emb_mlp", "--epochs", "30",
        "--attention-maps", "1", "--out", tmp_path / "out"])
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


def test_command_rejects_bad_fold_and_seed_options_before_reading_data(tmp_path, capsys):
    from astromer.cli.fewshot import main

    # Files that exist (the paths are checked first) but are never read.
    for name in ("unread.parquet", "unread.csv"):
        (tmp_path / name).write_text("not a table")
    common = ["--data", str(tmp_path / "unread.parquet"), "--labels", str(tmp_path / "unread.csv")]
    assert main(common + ["--head-seeds", "0"]) == 2
    assert "Head seeds must be at least 1, got 0 (--head-seeds)" in capsys.readouterr().err
    assert main(common + ["--only-fold", "5"]) == 2
    assert "only_folds=[5]: folds are numbered 0 to 2 (--folds 3)" in capsys.readouterr().err


def test_supervised_settings_are_read_as_bools_numbers_or_words():
    from astromer.cli.fewshot import parser, settings_of

    def _setting(item):  # what --supervised-setting KEY=VALUE sets
        args = parser().parse_args(["--data", "d", "--labels", "l", "--supervised-setting", item])
        key = item.split("=")[0]
        return key, getattr(settings_of(args).supervised, key)

    # "xla=false" must turn XLA off: a plain string "false" would be truthy.
    assert _setting("xla=false") == ("xla", False) and _setting("xla=True") == ("xla", True)
    assert _setting("epochs=50") == ("epochs", 50) and isinstance(_setting("epochs=50")[1], int)
    assert _setting("encoder_learning_rate=1e-5") == ("encoder_learning_rate", 1e-5)
    assert _setting("head=max_pool") == ("head", "max_pool")


def _two_band_survey(tmp_path):
    """The simulated survey with each light curve in two bands, "g" a copy
    of "r" shifted by 0.3 mag; ids and labels as `simulate_survey` draws."""
    from astromer.data.demo import simulate_survey

    lcs = simulate_survey(60, seed=3, classes=("RRL", "LPV", "noise"), min_obs=30, max_obs=80)
    rows = [(lc.id, t, m + shift, e, band) for lc in lcs for band, shift in (("r", 0.0), ("g", 0.3))
            for t, m, e in zip(lc.time, lc.mag, lc.err)]
    pd.DataFrame(rows, columns=["id", "time", "mag", "err", "band"]).to_parquet(tmp_path / "lcs.parquet")
    (tmp_path / "labels.csv").write_text("id,label\n" + "\n".join(f"{lc.id},{lc.label}" for lc in lcs) + "\n")
    return lcs


def test_an_absent_band_is_an_error_naming_the_bands(tmp_path, capsys):
    from astromer.cli.fewshot import main

    _two_band_survey(tmp_path)
    args = ["--data", str(tmp_path / "lcs.parquet"), "--labels", str(tmp_path / "labels.csv"),
            "--methods", "features_logreg", "--out", str(tmp_path / "out")]
    assert main(args + ["--band", "V"]) == 2
    assert "band(s) ['V'] not in the light curves; their bands are ['g', 'r']" in capsys.readouterr().err
    assert main(args + ["--bands", "r", "i"]) == 2
    assert "band(s) ['i'] not in the light curves" in capsys.readouterr().err


def test_one_fold_without_tsne_reports_the_band_it_reads(tmp_path, capsys):
    lcs = _two_band_survey(tmp_path)
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\nmodel:\n  class: AstromerBackbone\n  num_layers: 1\n  num_heads: 2\n  head_dim: 4\n"
        "  ff_dim: 8\n  window_size: 64\n  dropout: 0.0\n  pe_base: 1000.0\n  mask_token: false\n"
        "pretraining:\n  uncertainty_weighted: false\n  learning_rate: 0.001\n  batch_size: 16\n  epochs: 2\n  patience: 2\n"
    )
    frame = fewshot.run_from_files(fewshot.FewshotSettings(
        data=str(tmp_path / "lcs.parquet"), labels=str(tmp_path / "labels.csv"), out=str(tmp_path / "out"),
        preset=str(tmp_path / "tiny.yaml"), band="r", methods=("logreg",), spcs=(4,), folds=2, only_folds=[1],
        tsne=False))
    assert list(frame["fold"]) == [1]
    out = tmp_path / "out"
    # one samples-per-class value: a bar per method, not a line through one point
    assert not (out / "tsne_per_block.png").exists() and (out / "macro_f1.png").exists()
    assert not (out / "macro_f1_vs_spc.png").exists()
    assert "(1 fold)" in (out / "summary.md").read_text() and "±" not in (out / "summary.md").read_text()
    # the cleaning report counts the rows of band r only
    r_rows = sum(len(lc.time) for lc in lcs)
    assert f"rows: {r_rows} read" in capsys.readouterr().out


TINY = ("name: tiny\nmodel:\n  class: AstromerBackbone\n  num_layers: 1\n  num_heads: 2\n  head_dim: 4\n"
        "  ff_dim: 8\n  window_size: 64\n  dropout: 0.0\n  pe_base: 1000.0\n  mask_token: false\n"
        "pretraining:\n  uncertainty_weighted: false\n  learning_rate: 0.001\n  batch_size: 256\n  epochs: 2\n"
        "  patience: 2\n")


@pytest.mark.slow  # 20 CPU-s
def test_finetune_on_two_classes_at_twenty_per_class(tmp_path):
    # 2 classes x 20 training light curves = 40, fewer than the preset's
    # batch (256) and the default cap (64): the batch becomes 40.
    from astromer.data.demo import simulate_survey

    lcs = simulate_survey(80, seed=5, classes=("RRL", "LPV"), min_obs=30, max_obs=60)
    rows = [(lc.id, t, m, e) for lc in lcs for t, m, e in zip(lc.time, lc.mag, lc.err)]
    pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(tmp_path / "lcs.parquet")
    (tmp_path / "labels.csv").write_text("id,label\n" + "\n".join(f"{lc.id},{lc.label}" for lc in lcs) + "\n")
    (tmp_path / "tiny.yaml").write_text(TINY)
    from astromer.training.continued import continue_training

    settings = fewshot.fewshot_settings(
        ["continued_pretraining.epochs=1"], data=str(tmp_path / "lcs.parquet"), labels=str(tmp_path / "labels.csv"),
        out=str(tmp_path / "out"), preset=str(tmp_path / "tiny.yaml"), methods=("logreg",), spcs=(20,), folds=1,
        finetune=True, tsne=False)
    frame = fewshot.run_from_files(settings, trainer=continue_training)
    assert list(frame["method"]) == ["logreg (finetuned)"]
    config = (tmp_path / "out" / "finetune" / "fold0_spc20" / "config.yaml").read_text()
    assert "batch_size: 40" in config


def test_a_split_too_small_to_finetune_fails_by_name():
    import pytest

    from astromer.data.demo import simulate_survey
    from astromer.fewshot.continued_pretraining import continue_pretraining
    from astromer.training.continued import continue_training
    from astromer.core.factory import build_pretrainer, resolve_config

    lcs = {lc.id: lc for lc in simulate_survey(4, seed=1, min_obs=30, max_obs=40)}
    config = resolve_config("a1")
    ids = list(lcs)
    with pytest.raises(ValueError, match="1 training and 3 validation light curves are too few"):
        continue_pretraining(build_pretrainer(config), config, lcs, {"train": ids[:1], "val": ids[1:]}, "unused",
                             fewshot.method_settings()["continued_pretraining"], continue_training)
