"""Embedding speed against the original library, in one run on one machine.

    python docs/bench/embed_vs_original/compare.py --original-python /path/to/env/bin/python \\
        --light-curves 24 10000 > rows.jsonl

The other environment has the original python-library (`pip install
tensorflow-cpu==2.15.1 "numpy<2" pandas scikit-learn scipy joblib tqdm matplotlib seaborn`
then
`pip install --no-deps ASTROMER==0.1.8`). For each size, the same freshly
simulated light curves (`astromer.data.demo.simulate_survey`, seed 0) are
embedded with the published Astromer 1 weights by

- the original `SingleBandEncoder.encode` at its default batch (1) and at
  256, in the other environment (a child process; model loading not timed);
- this library's `astromer-embed` code path (`Embedder.from_weights`, compat
  chosen automatically, `write_parquet` to a temporary file) at its default
  batch (256) and at 8 (model loading not timed).

One JSON row per (tool, batch, size): light curves/s and seconds.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = r'''
import json, os, sys, time
import numpy as np
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from ASTROMER.models import SingleBandEncoder
data = np.load(sys.argv[1])
ids = [str(i) for i in data["ids"]]
lcs = [data[f"lc_{i}"].astype(np.float32) for i in range(len(ids))]
os.chdir(sys.argv[2])  # holds weights/macho (the published checkpoint)
model = SingleBandEncoder().from_pretraining("macho")
for batch in [int(b) for b in sys.argv[3].split(",")]:
    start = time.perf_counter()
    out = model.encode(lcs, oids_list=ids, batch_size=batch, concatenate=True)
    seconds = time.perf_counter() - start
    assert len(out) == len(lcs)
    print("ROW " + json.dumps({"tool": "ASTROMER 0.1.8 encode", "batch": batch, "light_curves": len(lcs),
                               "seconds": round(seconds, 2), "light_curves_per_s": round(len(lcs) / seconds, 1)}))
'''


def simulate(count, path):
    from astromer.data.demo import simulate_survey

    curves = simulate_survey(count, seed=0)
    np.savez(path, ids=np.array([lc.id for lc in curves]),
             **{f"lc_{i}": lc.as_array() for i, lc in enumerate(curves)})
    return curves


def ours(curves, weights, batch, workdir):
    import pandas as pd

    from astromer.embedding import Embedder

    table = os.path.join(workdir, f"lcs{len(curves)}.parquet")
    if not os.path.exists(table):
        rows = [(lc.id, t, m, e) for lc in curves for t, m, e in zip(lc.time, lc.mag, lc.err)]
        pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(table)
    embedder = Embedder.from_weights(weights, batch_size=batch)
    start = time.perf_counter()
    count = embedder.write_parquet(table, os.path.join(workdir, "emb.parquet"), progress=False)
    seconds = time.perf_counter() - start
    return {"tool": f"astromer-embed (compat {embedder.compat})", "batch": batch, "light_curves": count,
            "seconds": round(seconds, 2), "light_curves_per_s": round(count / seconds, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original-python", required=True, help="python of an environment with ASTROMER 0.1.8")
    parser.add_argument("--weights", default=os.path.join(os.path.dirname(__file__),
                                                          "../../../../shared/weights/astromer1-macho"))
    parser.add_argument("--light-curves", type=int, nargs="+", default=[24, 10000])
    parser.add_argument("--original-batches", default="1,256")
    args = parser.parse_args()
    weights = os.path.abspath(args.weights)
    with tempfile.TemporaryDirectory() as workdir:
        os.makedirs(os.path.join(workdir, "weights"))
        os.symlink(weights, os.path.join(workdir, "weights", "macho"))
        child = os.path.join(workdir, "child.py")
        with open(child, "w") as f:
            f.write(CHILD)
        for count in args.light_curves:
            npz = os.path.join(workdir, f"lcs{count}.npz")
            curves = simulate(count, npz)
            out = subprocess.run([args.original_python, child, npz, workdir, args.original_batches],
                                 capture_output=True, text=True)
            rows = [json.loads(line[4:]) for line in out.stdout.splitlines() if line.startswith("ROW ")]
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
            for row in rows + [ours(curves, weights, batch, workdir) for batch in (256, 8)]:
                print(json.dumps({**row, "cores": os.cpu_count()}), flush=True)


if __name__ == "__main__":
    main()
