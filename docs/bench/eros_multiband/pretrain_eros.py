"""Continues pretraining the published Astromer 1 on EROS-1 light curves that
are in no fold's test set (masked reconstruction, both bands).

    python docs/bench/eros_multiband/pretrain_eros.py joint    OUT_DIR [EPOCHS]
    python docs/bench/eros_multiband/pretrain_eros.py per_band OUT_DIR [EPOCHS]
    WINDOW=256 python docs/bench/eros_multiband/pretrain_eros.py joint OUT_DIR [EPOCHS]
    FOLD=1 python docs/bench/eros_multiband/pretrain_eros.py per_band OUT_DIR [EPOCHS]
    RESUME=1 ... (the same command again: continues from OUT_DIR's newest checkpoint)

joint: A1 weights plus a band embedding (EROS_B, EROS_R; initialised to zero,
so step 0 is exactly A1), trained on both bands merged into one sequence.
per_band: the plain single-band A1, trained on each band as its own light
curve: the same data and budget, for the per-band baselines.
OUT_DIR is a run folder (model.keras, config.yaml) for astromer-fewshot --weights.
"""

import json
import os
import sys

import astromer
from astromer import fewshot, training
from astromer.core.factory import make_optimizer, resolve_config
from astromer.data.cleaning import CleaningConfig, clean_light_curves
from astromer.data.datasets import PackedLightCurves
from astromer.data.lightcurves import LightCurve, iter_light_curves
from astromer.preprocessing.pretraining_data import PretrainingData

SHARED = os.environ.get("SHARED", os.path.join(os.path.dirname(__file__), "../../../../shared"))
EROS = os.environ.get("EROS", os.path.join(SHARED, "data/eros1_lmc"))
# The published checkpoint, or the same converted to .keras (machines without TF).
WEIGHTS = os.environ.get("A1_WEIGHTS", os.path.join(SHARED, "weights/astromer1-macho"))
BANDS = ["EROS_B", "EROS_R"]
# Without residuals (A1), dropout 0.1 before each LayerNorm makes the
# training-mode output far from the inference one (probed RMSE 0.48 vs 0.12
# on EROS_R windows): continuing with it raises the validation loss from the
# first epoch. Continued training here optimises the inference-mode model.
DROPOUT = float(os.environ.get("DROPOUT", "0.0"))
# Observations per window. EROS-1 objects have about 120 per band: a 200-step
# single-band window holds a whole band, a 200-step joint window only 5/6 of
# the merged sequence (the rest becomes a short second window). WINDOW=256
# gives the joint model the whole light curve too.
WINDOW = int(os.environ.get("WINDOW", "200"))
# FOLD=1 (per_band only): pretrain on light curves folded at their period.
FOLD = os.environ.get("FOLD", "0") == "1"
# RESUME=1: continue an interrupted run from its newest checkpoint (on 2 CPU
# cores a run takes 37 min to 2 h, longer than some sessions leave).
RESUME = os.environ.get("RESUME", "0") == "1"

mode, out_dir = sys.argv[1], sys.argv[2]
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 100
splits = fewshot.read_splits(os.path.join(EROS, "splits"), 3, (20,))
test_ids = set().union(*(set(s.query("split == 'test'")["id"]) for s in splits.values()))
curves = [lc for lc in clean_light_curves(iter_light_curves(os.path.join(EROS, "lightcurves.parquet")),
                                          CleaningConfig(min_observations=5)) if lc.id not in test_ids]
print(f"{len(curves)} EROS objects outside every fold's test set ({len(test_ids)} test ids excluded)")

# An original checkpoint needs TensorFlow; the .keras copy loads anywhere.
a1 = astromer.load_model(WEIGHTS)
if mode == "joint":
    model = a1.with_bands(BANDS, dropout=DROPOUT, window_size=WINDOW)
    lcs = curves
else:
    model = a1.with_settings(dropout=DROPOUT, window_size=WINDOW)
    lcs = []
    for lc in curves:
        for band in BANDS:
            keep = lc.band.astype(str) == band
            if keep.sum() >= 5:
                lcs.append(LightCurve(f"{lc.id}|{band}", lc.time[keep], lc.mag[keep], lc.err[keep]))
if FOLD:
    # Each single-band light curve folded at its own highest periodogram
    # peak (docs/bench/eros_features/folded.py, which reads the encoder).
    # The periodogram grid follows these curves' longest baseline (893.7 d,
    # as for all EROS objects), so the periods are folded.py's.
    if mode == "joint":
        raise SystemExit("FOLD=1 folds single-band light curves: use the per_band mode.")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../eros_features"))
    from folded import folded_light_curves

    from astromer.core.features import light_curve_features
    lcs, unfolded = folded_light_curves(lcs, light_curve_features(lcs)[0])
    print(f"{len(lcs) - unfolded} sequences folded, {unfolded} without a period left unfolded")
packed = PackedLightCurves.from_light_curves(lcs, band_names=model.backbone.band_names)
train, val = packed.split((0.9, 0.1), seed=0)
config = resolve_config("a1-original", [
    f"pretraining.epochs={epochs}", "pretraining.batch_size=64", "pretraining.learning_rate=1e-4",
    "pretraining.warmup_steps=100", "pretraining.patience=20"])
config["model"] = {"class": "AstromerBackbone", **{
    k: v for k, v in model.backbone.get_config().items() if k not in ("name", "trainable")}}
data = PretrainingData("packed", train, val, description=f"EROS-1 non-test objects, {mode}")
model.compile(make_optimizer(config["pretraining"]))
before = training.evaluate_masked(model, val, config, 64)
# Hidden steps: the probes the model cannot see (since issue 22 training
# never shows them, whatever the preset); the number that cannot be copied.
hidden_before = training.evaluate_hidden(model, val, config, 64)
print("validation before:", before, "hidden steps:", hidden_before)
summary = training.pretrain(config, data, out_dir, resume=RESUME, initial_model=model, verbose=2)
summary["mode"], summary["objects"], summary["sequences"] = mode, len(curves), len(lcs)
summary["folded"] = FOLD
summary["val_before"] = before
summary["val_hidden_before"] = hidden_before
summary["val_hidden_after"] = training.evaluate_hidden(astromer.load_model(out_dir), val, config, 64)
print(json.dumps(summary, indent=2, default=str))
with open(os.path.join(out_dir, "eros_pretraining.json"), "w") as f:
    json.dump(summary, f, indent=2, default=str)
