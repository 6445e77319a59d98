"""Train/val/test splits of the few-shot protocol, and the label/table check.

Protocol (Astromer 2 paper Sect. 5.1; the fixed EROS-1 splits follow it):
for each fold `f` (`numpy.random.default_rng(f)`) and samples-per-class `s`,

- test: per class `min(1000, floor(0.3 n_class))` objects, drawn once per
  fold and shared by every `s` (classes in sorted order, ids sorted as
  strings);
- train: `s` objects per class from the class's non-test pool, without
  replacement when the pool has at least `s`, else the whole pool plus
  draws with replacement (the paper: "sampling is performed with
  replacement");
- val: `ceil(s / 4)` per class from the pool minus train, without
  replacement; if too few remain, all of them plus draws with replacement
  among them; if none remain, draws with replacement from the whole pool.

`make_splits` reproduces `shared/data/eros1_lmc/splits` exactly; the order
of the random draws is part of that, so it must not change.
"""

import math
import os

import numpy as np
import pandas as pd


def _draw(rng, values, n, replace=False):
    return list(rng.choice(np.asarray(values), n, replace=replace))


def make_splits(labels, folds=3, spcs=(20, 100, 500), max_test=1000, test_fraction=0.3):
    """`{(fold, spc): DataFrame(id, split)}` by the protocol above, and a
    list of notes on classes too small for a requested size."""
    by_class = {}
    for oid, label in labels.items():
        by_class.setdefault(str(label), []).append(str(oid))
    classes = sorted(by_class)
    by_class = {c: sorted(by_class[c]) for c in classes}
    splits, notes = {}, []
    for fold in range(folds):
        rng = np.random.default_rng(fold)
        test = {
            c: _draw(rng, by_class[c], min(max_test, math.floor(test_fraction * len(by_class[c]))))
            for c in classes
        }
        for spc in spcs:
            rows = []
            for c in classes:
                pool = sorted(set(by_class[c]) - set(test[c]))
                if not pool:
                    raise ValueError(f"Class {c!r} has no objects outside its test set; it cannot be trained on.")
                if len(pool) >= spc:
                    train = _draw(rng, pool, spc)
                else:
                    train = list(pool) + _draw(rng, pool, spc - len(pool), replace=True)
                    if fold == 0:
                        notes.append(f"class {c!r}: {len(pool)} objects outside the test set < {spc} per class; "
                                     f"training draws {spc - len(pool)} repeats with replacement")
                rest = sorted(set(pool) - set(train))
                n_val = math.ceil(spc / 4)
                if len(rest) >= n_val:
                    val = _draw(rng, rest, n_val)
                elif rest:
                    val = list(rest) + _draw(rng, rest, n_val - len(rest), replace=True)
                else:
                    val = _draw(rng, pool, n_val, replace=True)
                rows += [(i, "train") for i in train] + [(i, "val") for i in val]
            rows += [(i, "test") for c in classes for i in sorted(test[c])]
            splits[(fold, spc)] = pd.DataFrame(rows, columns=["id", "split"])
    return splits, notes


def write_splits(splits, folder):
    os.makedirs(folder, exist_ok=True)
    for (fold, spc), frame in splits.items():
        frame.to_csv(os.path.join(folder, f"fold{fold}_spc{spc}.csv"), index=False)


def read_splits(folder, folds, spcs):
    splits = {}
    for fold in range(folds):
        for spc in spcs:
            path = os.path.join(folder, f"fold{fold}_spc{spc}.csv")
            if not os.path.exists(path):
                raise FileNotFoundError(f"Split file {path!r} is missing (expected fold{{f}}_spc{{s}}.csv, columns id,split).")
            frame = pd.read_csv(path, dtype={"id": str})
            if set(frame.columns) != {"id", "split"}:
                raise ValueError(f"{path!r} must have columns id,split; found {list(frame.columns)}.")
            splits[(fold, spc)] = frame
    return splits


def reconcile(table_ids, labels):
    """Keeps labelled ids present in the table; returns (labels, notes with counts)."""
    table_ids = set(map(str, table_ids))
    labels = {str(k): v for k, v in labels.items()}
    notes = []
    missing = sorted(set(labels) - table_ids)
    unlabeled = sorted(table_ids - set(labels))
    if missing:
        notes.append(f"{len(missing)} labelled ids are not in the table (e.g. {missing[:5]}); they are left out")
    if unlabeled:
        notes.append(f"{len(unlabeled)} light curves of the table have no label (e.g. {unlabeled[:5]}); they are left out")
    return {k: v for k, v in labels.items() if k in table_ids}, notes


def splits_for(labels, folds, spcs, splits_dir, out_dir):
    """The run's splits: read from `splits_dir` when it holds them, else drawn
    by `make_splits` and written to `<out_dir>/splits`. Returns (splits,
    notes on small classes, the folder the splits are in)."""
    if splits_dir and os.path.exists(os.path.join(splits_dir, f"fold0_spc{spcs[0]}.csv")):
        return read_splits(splits_dir, folds, spcs), [], splits_dir
    splits, notes = make_splits(labels, folds, spcs)
    source = os.path.join(out_dir, "splits")
    write_splits(splits, source)
    return splits, notes, source
