"""Collects per-fold macro-F1 lines ("<method> spc <s> fold <f>: macro-F1 <x>")
from astromer-fewshot logs into one CSV, one row per (encoder, method, spc, fold).

    python docs/bench/eros_fewshot/collect.py OUT.csv ENCODER=LOG [ENCODER=LOG ...]

Long runs were split over processes (--only-fold); where a (method, spc,
fold) was run twice, the first log's value is kept and the difference is
printed (head training on the GPU is not bit-reproducible: XLA's GPU
reductions change the early-stopping epoch now and then).
"""

import re
import sys

import pandas as pd

LINE = re.compile(r"^\s*(?P<method>.+?) spc\s+(?P<spc>\d+) fold (?P<fold>\d+): macro-F1 (?P<f1>[0-9.]+)\s*$")

rows = {}
for arg in sys.argv[2:]:
    encoder, path = arg.split("=", 1)
    for line in open(path):
        m = LINE.match(line)
        if m:
            key = (encoder, m["method"].strip(), int(m["spc"]), int(m["fold"]))
            value = float(m["f1"])
            if key in rows:
                if abs(rows[key] - value) > 1e-9:
                    print(f"repeated {key}: kept {rows[key]}, other run {value}")
                continue
            rows[key] = value
frame = pd.DataFrame([(*k, v) for k, v in rows.items()], columns=["encoder", "method", "spc", "fold", "macro_f1"])
frame.sort_values(["encoder", "method", "spc", "fold"]).to_csv(sys.argv[1], index=False)
print(frame.groupby(["encoder", "method", "spc"])["macro_f1"].agg(["mean", "std", "count"]).round(3).to_string())
