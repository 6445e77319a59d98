#!/usr/bin/env python
"""Convert a light-curve table into sharded TFRecords with a manifest.

    python pipelines/make_records.py ../shared/data/crts_mantra/lightcurves.parquet records/crts
    python pipelines/make_records.py ../shared/data/eros1_lmc/lightcurves.parquet records/eros_r \
        --labels ../shared/data/eros1_lmc/labels.csv --band EROS_R

The table needs columns id, time, mag, err[, band] (Parquet or CSV, or a
folder of them). Output: <out>/{train,val,test}/shard-XXX-of-YYY.record in the
original Astromer 2 schema, and <out>/manifest.json with the counts per split,
shard and class, the cleaning summary and the settings used. Readers
(astromer-train --data <out>, astromer.data.records) compare every shard with
these counts and stop, naming the shard, when one was truncated or lost.

Nothing is left out silently: light curves without an observation in --band,
those dropped by cleaning and unlabeled ones are counted (printed and in the
manifest). Ids and bands are read as text; a row without a band is an error
(with the number of such rows), and so is a value that would not be finite
as float32.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from astromer.cli.errors import add_debug_option, console_script  # noqa: E402


@console_script("make_records.py")
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", help="Parquet/CSV file or folder with id, time, mag, err[, band]")
    parser.add_argument("output", help="output folder")
    parser.add_argument("--labels", help="id,label CSV")
    parser.add_argument("--band", help="keep only this band (light curves without it are counted)")
    parser.add_argument("--splits", nargs=3, type=float, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--shards", type=int, default=8, help="files per split (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schema", choices=("main-code", "python-library"), default="main-code")
    parser.add_argument("--min-obs", type=int, default=5, help="drop light curves with fewer observations")
    parser.add_argument("--max-error", type=float, default=1.0, help="drop rows with err >= this (paper: 1)")
    parser.add_argument("--clip", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="drop magnitudes outside these per-light-curve percentiles (paper: 1 99)")
    add_debug_option(parser)
    args = parser.parse_args(argv)

    from astromer.data.pipeline import table_to_records

    table_to_records(
        args.table, args.output, labels=args.labels, band=args.band,
        splits=dict(zip(("train", "val", "test"), args.splits)), shards=args.shards, seed=args.seed,
        schema=args.schema,
        cleaning={"min_observations": args.min_obs, "max_error": args.max_error,
                  "clip_percentiles": args.clip},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
