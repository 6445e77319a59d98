"""Mean and std over folds, and the Markdown table of a few-shot run."""

import pandas as pd
import pytest

from astromer import fewshot


def test_summary_and_markdown():
    frame = pd.DataFrame({"method": ["m"] * 4, "spc": [20, 20, 100, 100], "fold": [0, 1, 0, 1],
                          "macro_f1": [0.5, 0.7, 0.8, 0.8]})
    summary = fewshot.summarize(frame)
    row = summary[summary.spc == 20].iloc[0]
    assert row["mean"] == pytest.approx(0.6) and row["std"] == pytest.approx(0.1)  # ddof=0
    md = fewshot.markdown_table(summary, {"reference": [0.1, None]})
    assert "| m | 0.600 ± 0.100 | 0.800 ± 0.000 |" in md and "| reference | 0.100 |  |" in md


def test_a_single_fold_has_no_fake_spread():
    frame = pd.DataFrame({"method": ["m"], "spc": [20], "fold": [1], "macro_f1": [0.4321]})
    md = fewshot.markdown_table(fewshot.summarize(frame))
    assert "| m | 0.432 (1 fold) |" in md and "±" not in md


def _draw(tmp_path, monkeypatch, frame):
    """The run's figures for `frame`; returns the confusion-matrix titles
    and the matrices drawn, by file name."""
    import numpy as np

    from astromer.fewshot import plots, report

    drawn = {}

    def capture(matrix, classes, path, title=None):
        drawn[path.rsplit("/", 1)[-1]] = (title, np.asarray(matrix))

    monkeypatch.setattr(plots, "confusion_matrix", capture)
    confusions = {(m, s, f): np.array([[f + 1, 0], [1, 2]]) for m, s, f in frame[["method", "spc", "fold"]].values}
    report.draw_figures(str(tmp_path), fewshot.summarize(frame), confusions, ["A", "B"], {}, verbose=False)
    return drawn


def test_one_spc_gives_a_bar_chart_and_one_fold_confusions_name_the_fold(tmp_path, monkeypatch):
    # --only-fold 2 --spc 20: no line through one point per method, and the
    # confusion matrix is fold 2's, not a "sum over folds".
    frame = pd.DataFrame({"method": ["rf", "emb"], "spc": [20, 20], "fold": [2, 2], "macro_f1": [0.61, 0.60]})
    drawn = _draw(tmp_path, monkeypatch, frame)
    assert (tmp_path / "macro_f1.png").exists() and not (tmp_path / "macro_f1_vs_spc.png").exists()
    assert drawn["confusion_rf_spc20.png"][0] == "rf, 20 per class, fold 2"
    assert drawn["confusion_rf_spc20.png"][1][0, 0] == 3  # fold 2's own matrix


def test_several_spcs_and_folds_draw_lines_and_sum_the_folds(tmp_path, monkeypatch):
    frame = pd.DataFrame({"method": ["rf"] * 4, "spc": [20, 20, 100, 100], "fold": [0, 2, 0, 2],
                          "macro_f1": [0.6, 0.62, 0.65, 0.66]})
    drawn = _draw(tmp_path, monkeypatch, frame)
    assert (tmp_path / "macro_f1_vs_spc.png").exists() and not (tmp_path / "macro_f1.png").exists()
    title, matrix = drawn["confusion_rf_spc100.png"]
    assert title == "rf, 100 per class (sum over folds 0, 2)" and matrix[0, 0] == 1 + 3


def test_f1_axis_is_at_least_two_tenths_wide_on_round_values():
    from astromer.fewshot.plots import f1_limits

    assert f1_limits([0.60], [0.61]) == pytest.approx((0.5, 0.7))
    assert f1_limits([0.02], [0.98]) == pytest.approx((0.0, 1.0))
