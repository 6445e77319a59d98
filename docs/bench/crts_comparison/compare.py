"""Pretraining comparison on CRTS: A1, A2, AstroCo-S, same data, windows, masks, epochs, batch."""
import json, os, sys, time
from astromer import training
from astromer.core.factory import resolve_config
from astromer.preprocessing.pretraining_data import PretrainingData
out = os.environ.get("OUT", "/tmp/out")
epochs, batch = int(sys.argv[1]), int(sys.argv[2])
presets = sys.argv[3:]
t0 = time.time()
base = resolve_config("a2", [f"pretraining.epochs={epochs}", f"pretraining.batch_size={batch}"])
data = PretrainingData.open(os.environ.get("CMP_DATA", ".bench/crts.parquet"), base, input_path="numpy")
print("data ready", round(time.time() - t0), "s", data.description, flush=True)
for preset in presets:
    config = resolve_config(preset, [f"pretraining.epochs={epochs}", f"pretraining.batch_size={batch}",
                                              "pretraining.patience=1000", "model.dtype=mixed_bfloat16"])
    t = time.time()
    summary = training.pretrain(config, data, f"/tmp/cmp/{preset}", verbose=0)
    summary["preset"], summary["wall_s"] = preset, round(time.time() - t, 1)
    print(json.dumps(summary), flush=True)
    with open(f"{out}/summary_{preset}.json", "w") as f:
        json.dump(summary, f, indent=2)
    os.system(f"cp /tmp/cmp/{preset}/history.csv {out}/history_{preset}.csv")
