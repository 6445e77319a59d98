"""Copies a run's finished supervised seeds into this folder, or back.

Supervised finetuning at 500 per class takes hours of two cores per table,
more than one working session, so the finished seeds of a run
(`<out>/supervised/fold{f}_spc{s}_seed{k}.csv` and `.json`) are kept here
and copied back into a new run's `--out` before the same command is run
again: it then reads them back and trains only the missing seeds.

The copies kept here leave out the label column: the labels are the EROS
catalogue's (../shared), which stay out of this repository; a rerun reads
only the ids and the probabilities.

    python docs/bench/eros_features/keep_seeds.py runs/sup-r-500 docs/bench/eros_features/seeds_a1_eros_r
    python docs/bench/eros_features/keep_seeds.py docs/bench/eros_features/seeds_a1_eros_r runs/sup-r-500 --back
"""

import argparse
import glob
import os
import shutil

import pandas as pd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a run's --out (or, with --back, the folder kept here)")
    parser.add_argument("target", help="the folder kept here (or, with --back, the new run's --out)")
    parser.add_argument("--back", action="store_true", help="copy kept seeds into a run's --out")
    args = parser.parse_args()
    source = args.source if args.back else os.path.join(args.source, "supervised")
    target = os.path.join(args.target, "supervised") if args.back else args.target
    if not os.path.isdir(source):
        # A mistyped path would otherwise copy nothing and look like success.
        parser.error(f"{source} is not a folder: give a run's --out (the folder holding supervised/), "
                     "or with --back the folder of kept seeds")
    os.makedirs(target, exist_ok=True)
    records = sorted(glob.glob(os.path.join(source, "*_seed*.json")))
    for record in records:
        stem = os.path.basename(record)[:-len(".json")]
        table = pd.read_csv(os.path.join(source, stem + ".csv"), dtype={"id": str})
        table.drop(columns=["label"], errors="ignore").to_csv(os.path.join(target, stem + ".csv"), index=False)
        shutil.copyfile(record, os.path.join(target, stem + ".json"))
    print(f"{len(records)} seed(s) copied from {source} to {target}")


if __name__ == "__main__":
    main()
