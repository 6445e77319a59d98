"""Each supervised seed's test probabilities, kept on disk as it finishes.

A supervised cell at 500 per class trains for up to an hour per seed on two
CPU cores, longer than many jobs may run. So each seed's class probabilities
of the cell's test objects go to `<out>/supervised/fold{f}_spc{s}_seed{k}.csv`
(id, label, one probability column per class) as soon as it finishes,
beside a `.json` record of what made them; the same command with the same
`--out` reads back every seed whose record matches (encoder weights, by a
SHA-256 of every weight; settings, bands, seed, classes, the cell's ids)
and trains only the others.
"""

import hashlib
import json
import os

import numpy as np


def fingerprint(encoder, settings, bands, ids, classes, seed):
    """What a seed's probabilities depend on, as a JSON-safe dict."""
    weights = hashlib.sha256()
    for w in encoder.backbone.get_weights():
        array = np.ascontiguousarray(w)
        weights.update(str((array.dtype.str, array.shape)).encode())
        weights.update(array.tobytes())
    objects = hashlib.sha256(json.dumps({k: [str(i) for i in v] for k, v in sorted(ids.items())}).encode())
    return {"seed": int(seed), "encoder_sha256": weights.hexdigest(), "objects_sha256": objects.hexdigest(),
            "settings": json.loads(json.dumps(settings, sort_keys=True, default=str)),
            "bands": None if bands is None else [str(b) for b in bands], "classes": [str(c) for c in classes]}


def paths(out_dir, fold, spc, k):
    """`(csv, json)` paths of seed number `k` of a cell."""
    stem = os.path.join(out_dir, "supervised", f"fold{fold}_spc{spc}_seed{k}")
    return stem + ".csv", stem + ".json"


def read(out_dir, fold, spc, k, expected, test_ids):
    """`(probabilities, record)` of seed `k` when its files exist and its
    record equals `expected` (a `fingerprint`); `(None, why)` otherwise,
    `why` naming the first difference (None when there are no files)."""
    import pandas as pd

    csv_path, json_path = paths(out_dir, fold, spc, k)
    if not (os.path.exists(csv_path) and os.path.exists(json_path)):
        return None, None
    with open(json_path) as f:
        record = json.load(f)
    different = [key for key in expected if record.get(key) != expected[key]]
    if different:
        return None, f"{json_path} was made with another {different[0].replace('_', ' ')}"
    table = pd.read_csv(csv_path, dtype={"id": str})
    columns = [f"p_{c}" for c in expected["classes"]]
    if list(table["id"]) != [str(i) for i in test_ids] or not set(columns) <= set(table.columns):
        return None, f"{csv_path} holds other test objects or classes"
    return table[columns].to_numpy(np.float64), record


def write(out_dir, fold, spc, k, record, test_ids, probabilities, truth):
    """Writes seed `k`'s probabilities (rows follow `test_ids`) and its
    record; each file appears whole or not at all (written, then renamed)."""
    import pandas as pd

    csv_path, json_path = paths(out_dir, fold, spc, k)
    os.makedirs(os.path.dirname(csv_path), exist_ok=True)
    classes = record["classes"]
    table = pd.DataFrame({"id": [str(i) for i in test_ids], "label": [classes[t] for t in truth]})
    for c, column in zip(classes, np.asarray(probabilities).T):
        table[f"p_{c}"] = column
    # The old record first, the new one last: a CSV is never read back with
    # a record that was not written for it.
    if os.path.exists(json_path):
        os.remove(json_path)
    table.to_csv(csv_path + ".part", index=False, float_format="%.8g")
    os.replace(csv_path + ".part", csv_path)
    with open(json_path + ".part", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(json_path + ".part", json_path)
