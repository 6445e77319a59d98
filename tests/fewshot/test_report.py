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
