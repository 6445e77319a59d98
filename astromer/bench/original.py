"""Embedding speed against the original python-library (ASTROMER 0.1.8), side
by side on one machine: `astromer-bench original` (docs/performance.md).

The original needs TensorFlow 2.15 and NumPy < 2, so it runs as a child
process in its own environment (`--original-python`; install it with
`pip install tensorflow-cpu==2.15.1 "numpy<2" pandas scikit-learn scipy joblib
tqdm matplotlib seaborn` then `pip install --no-deps ASTROMER==0.1.8`). Both
embed the same simulated light curves with the same weights: the original's
`SingleBandEncoder.encode` and this library's `astromer-embed` path, model
loading not timed, each measurement repeated (median and best); our rows
carry their ratio to the original's default batch (1) and fastest batch.
"""

import json
import os
import signal
import statistics
import subprocess
import tempfile
import time

import numpy as np

from astromer.bench.environment import emit, environment
from astromer.errors import BenchError

CHILD = r'''
import json, os, sys, time
import numpy as np
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from ASTROMER.models import SingleBandEncoder
data = np.load(sys.argv[1])
ids = [str(i) for i in data["ids"]]
lcs = [data[f"lc_{i}"].astype(np.float32) for i in range(len(ids))]
os.chdir(sys.argv[2])  # holds weights/macho (the weights to compare)
batch, repeats, chunk = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]) or len(lcs)
model = SingleBandEncoder().from_pretraining("macho")
seconds = []
for _ in range(repeats):
    start, done = time.perf_counter(), 0
    while done < len(lcs):
        part = slice(done, done + chunk)
        out = model.encode(lcs[part], oids_list=ids[part], batch_size=batch, concatenate=True)
        assert len(out) == len(lcs[part])
        done += len(lcs[part])
        print("PART " + json.dumps({"done": done, "seconds": time.perf_counter() - start}), flush=True)
    seconds.append(time.perf_counter() - start)
print("ROW " + json.dumps({"batch": batch, "seconds": seconds}), flush=True)
'''


def _simulate(count, workdir):
    import pandas as pd

    from astromer.data.demo import simulate_survey

    curves = simulate_survey(count, seed=0)
    npz = os.path.join(workdir, f"lcs{count}.npz")
    np.savez(npz, ids=np.array([lc.id for lc in curves]), **{f"lc_{i}": lc.as_array() for i, lc in enumerate(curves)})
    table = os.path.join(workdir, f"lcs{count}.parquet")
    rows = [(lc.id, t, m, e) for lc in curves for t, m, e in zip(lc.time, lc.mag, lc.err)]
    pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(table)
    return npz, table


def _row(tool, batch, count, seconds, extra=None):
    best, median = min(seconds), statistics.median(seconds)
    return {"bench": "original", "tool": tool, "batch": batch, "light_curves": count,
            "repeats": len(seconds), "seconds_median": round(median, 3), "seconds_best": round(best, 3),
            "light_curves_per_s": round(count / median, 1), "light_curves_per_s_best": round(count / best, 1),
            **(extra or {})}


def _original(settings, npz, workdir):
    """One child process per batch size of the original (model loading not
    timed). A child still running after `settings.original_timeout` seconds
    is stopped; its row then holds the light curves it finished (in
    `original_chunk`-sized calls) and their time."""
    python, chunk, timeout = settings.original_python, settings.original_chunk, settings.original_timeout

    child = os.path.join(workdir, "child.py")
    with open(child, "w") as f:
        f.write(CHILD)
    rows = []
    for batch in settings.original_batches:
        try:
            # Its own process group: stopping it stops whatever it started.
            proc = subprocess.Popen([python, child, npz, workdir, str(batch), str(settings.repeats), str(chunk)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        except OSError as error:
            raise BenchError(f"Cannot run --original-python {python!r}: {error}") from None
        try:
            out, errors = proc.communicate(timeout=timeout)
            stopped = False
        except subprocess.TimeoutExpired:
            # communicate() again collects what the child wrote before it was stopped.
            os.killpg(proc.pid, signal.SIGKILL)
            (out, errors), stopped = proc.communicate(), True
        code, lines = proc.returncode, out.splitlines()
        found = [json.loads(line[4:]) for line in lines if line.startswith("ROW ")]
        parts = [json.loads(line[5:]) for line in lines if line.startswith("PART ")]
        if found and not stopped:
            rows.append({**found[0], "batch": batch})
        elif stopped and parts:
            # The first pass's progress when the time ran out: a measured
            # rate over the light curves it finished.
            first = []
            for part in parts:
                if first and part["done"] <= first[-1]["done"]:
                    break  # a second pass began
                first.append(part)
            rows.append({"batch": batch, "seconds": [first[-1]["seconds"]], "done": first[-1]["done"],
                         "stopped_after_s": timeout})
        elif stopped:
            raise BenchError(f"The original library finished no chunk of {chunk or 'all'} light curves at batch "
                             f"{batch} within --original-timeout {timeout} s; use a smaller --original-chunk.")
        else:
            tail = "\n".join(errors.strip().splitlines()[-3:])
            raise BenchError(f"The original library failed in {python!r} (exit {code}): {tail}")
    return rows


def run_original(settings):
    """Times both libraries on the same light curves as the `OriginalBench`
    `settings` say; prints and returns rows.

    `original_timeout` stops an original run that would take too long (at
    batch 1 on 10,000 light curves it takes over an hour and its memory
    grows by about 0.15 GB a minute); with `original_chunk` light curves per
    `encode` call, the row then gives the rate over the chunks it finished
    (`"complete": false`, `light_curves` those finished, `of` all)."""
    from astromer.core.embedder import Embedder

    s = settings
    weights = os.path.abspath(s.weights)
    if not os.path.exists(weights):
        raise BenchError(f"Weights {weights!r} do not exist.")
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        os.makedirs(os.path.join(workdir, "weights"))
        os.symlink(weights, os.path.join(workdir, "weights", "macho"))
        for count in s.light_curves:
            npz, table = _simulate(count, workdir)
            theirs = {}
            for row in _original(s, npz, workdir):
                done = row.get("done", count)
                theirs[row["batch"]] = done / statistics.median(row["seconds"])
                partial = {"complete": False, "of": count, "stopped_after_s": row["stopped_after_s"]} \
                    if "done" in row else {}
                results.append(emit({**_row("ASTROMER 0.1.8 encode", row["batch"], done, row["seconds"], partial),
                                     **environment()}))
            default_speed, best_speed = theirs.get(1), max(theirs.values())
            for batch in s.batches:
                embedder = Embedder.from_weights(weights, batch_size=batch)
                seconds = []
                for _ in range(s.repeats):
                    start = time.perf_counter()
                    written = embedder.write_parquet(table, os.path.join(workdir, "emb.parquet"), progress=False)
                    seconds.append(time.perf_counter() - start)
                speed = written / statistics.median(seconds)
                extra = {"ratio_to_original_default": round(speed / default_speed, 2) if default_speed else None,
                         "ratio_to_original_fastest": round(speed / best_speed, 2)}
                results.append(emit({**_row(f"astromer-embed (compat {embedder.compat})", batch, written, seconds,
                                            extra), **environment()}))
    return results
