"""The few-shot protocol's splits and the label/table check."""

import pandas as pd

from astromer import fewshot
from tests.conftest import shared_path


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
