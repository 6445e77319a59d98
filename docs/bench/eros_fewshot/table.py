"""Markdown table (macro-F1 mean ± std over folds) from per-fold CSVs of collect.py.

    python docs/bench/eros_fewshot/table.py per_fold_a.csv [per_fold_b.csv ...] --rows "LABEL=encoder:method" ...

A cell over fewer than 3 folds is marked with the number of folds; a split
present in several files counts once (the first file's value).
"""

import argparse

import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("csv", nargs="+")
parser.add_argument("--rows", nargs="+", required=True, help="LABEL=encoder:method")
args = parser.parse_args()
# A split present in several files counts once: the first file's value.
frame = pd.concat([pd.read_csv(p) for p in args.csv]).drop_duplicates(["encoder", "method", "spc", "fold"])
spcs = sorted(frame["spc"].unique())
print("| | " + " | ".join(f"{s} per class" for s in spcs) + " |")
print("|---" * (len(spcs) + 1) + "|")
for row in args.rows:
    label, key = row.split("=", 1)
    encoder, method = key.split(":", 1)
    part = frame[(frame["encoder"] == encoder) & (frame["method"] == method)]
    if part.empty:
        raise SystemExit(f"no results for {key!r}")
    cells = []
    for s in spcs:
        v = part[part["spc"] == s]["macro_f1"]
        note = "" if len(v) == 3 else f" ({len(v)} folds)"
        cells.append(f"{v.mean():.3f} ± {v.std(ddof=0):.3f}{note}" if len(v) else "–")
    print(f"| {label} | " + " | ".join(cells) + " |")
