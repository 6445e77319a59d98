"""A stand-in for the reference implementation `astromer-bench model
--reference` runs (tests/bench/test_bench.py): prints one JSON row per batch,
10 * batch + steps windows/s, after a line that is not JSON; fails at batch 5
as an out-of-memory would."""

import argparse
import json

parser = argparse.ArgumentParser()
parser.add_argument("--mode")
parser.add_argument("--batch", type=int, nargs="+")
parser.add_argument("--steps", type=int)
args = parser.parse_args()
for batch in args.batch:
    if batch == 5:
        raise SystemExit("out of memory at batch 5")
    print("compiling...")
    row = {"impl": "fake-torch", "mode": args.mode, "batch": batch, "windows_per_s": 10 * batch + args.steps}
    print(json.dumps(row))
