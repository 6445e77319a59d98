"""How much one few-shot head's macro-F1 depends on its seed alone: A2 heads
with seeds fold + 1000 k on the same frozen features of one split, each
scored on the test set, and the average of their probabilities
(`--head-seeds`).

    python docs/bench/eros_multiband/head_seed_spread.py RUN_DIR VARIANT [SPC] [FOLD] [SEEDS]

RUN_DIR: an encoder run folder (model.keras, config.yaml); VARIANT: joint,
joint_per_band, band_mean, band_concat. Prints one JSON line.
"""

import json
import os
import sys

import numpy as np
from sklearn.metrics import f1_score

from astromer import fewshot
from astromer.core.loading import load_backbone
from astromer.data.lightcurves import iter_light_curves

SHARED = os.environ.get("SHARED", os.path.join(os.path.dirname(__file__), "../../../../shared"))
EROS = os.environ.get("EROS", os.path.join(SHARED, "data/eros1_lmc"))

run_dir, variant = sys.argv[1], sys.argv[2]
spc = int(sys.argv[3]) if len(sys.argv) > 3 else 20
fold = int(sys.argv[4]) if len(sys.argv) > 4 else 0
seeds = int(sys.argv[5]) if len(sys.argv) > 5 else 5
light_curves = list(iter_light_curves(os.path.join(EROS, "lightcurves.parquet")))
bands = ["EROS_B", "EROS_R"] if variant.startswith("band_") else None
features = fewshot.EncoderFeatures(fewshot.EncoderPasses(load_backbone(run_dir, "a1-original"), light_curves), variant,
                                   bands)
split = fewshot.read_splits(os.path.join(EROS, "splits"), 3, (spc,))[(fold, spc)]
labels = dict(np.loadtxt(os.path.join(EROS, "labels.csv"), dtype=str, delimiter=",", skiprows=1))
classes = sorted(set(labels.values()))
y = np.array([classes.index(labels[i]) for i in features.ids])
rows = {k: features.rows(list(split[split["split"] == k]["id"])) for k in ("train", "val", "test")}
truth = y[rows["test"]]
single, probabilities = [], []
for k in range(seeds):
    # the same heads that --head-seeds trains and averages
    predict, _ = fewshot.train_head("a2", features, y, rows, len(classes), fewshot.method_settings()["heads"],
                                    seed=fold + fewshot.SEED_STRIDE * k)
    single.append(f1_score(truth, predict(rows["test"]), average="macro"))
    probabilities.append(predict.probabilities(rows["test"]))
averaged = np.argmax(np.mean(probabilities, axis=0), axis=1)
print(json.dumps({"encoder": run_dir, "variant": variant, "spc": spc, "fold": fold,
                  "single_head_f1": [round(v, 3) for v in single],
                  "averaged_f1": round(f1_score(truth, averaged, average="macro"), 3)}))
