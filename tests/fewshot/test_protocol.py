"""The benchmark loop rejects bad fold and seed options by name."""

import pytest

from astromer import fewshot


def test_only_folds_outside_the_folds_fail_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"only_folds=\[1, 3\]: folds are numbered 0 to 2"):
        fewshot.run(fewshot.FewshotSettings(out=str(tmp_path), folds=3, only_folds=[3, 1]), [], {})


def test_head_seeds_below_one_fail(tmp_path):
    with pytest.raises(ValueError, match="Head seeds must be at least 1, got 0"):
        fewshot.run(fewshot.fewshot_settings(["heads.seeds=0"], out=str(tmp_path)), [], {})
