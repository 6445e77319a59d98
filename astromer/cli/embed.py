"""`astromer-embed`: one embedding per light curve, streamed to Parquet.

    astromer-embed --weights path/to/astromer1-macho --data lightcurves.parquet --out embeddings.parquet
    astromer-embed --weights runs/a2 --data catalogue/ --band EROS_R --layer mix --out emb.parquet

--weights: a run folder of astromer-train, a .keras model, an original
checkpoint (folder with conf.json/config.json, e.g. the published Astromer 1
MACHO weights, or a legacy .h5), or a .weights.h5 with --preset.
The table is read in chunks (rows of one light curve must be contiguous), so
catalogues larger than memory embed with constant memory. Output columns:
id, n_obs, n_windows, embedding (list of float32). Embeddings are
standardised per dimension by default (raw ones of different objects point
almost the same way: cosine ~0.999), with the statistics saved beside the
output; --no-standardize writes them raw (e.g. to compare with the original
library).

A survey (docs/survey.md): --data a folder of Parquet files (one partition
each) or a HATS catalogue with --workers N (a local Dask cluster) or
--scheduler ADDRESS (an existing one); --out is then a folder: one file per
partition, manifest.json, report.json and stats.json. A rerun skips the
partitions done. --features adds the 44 hand-crafted features per band to
the same rows (with or without Dask).
"""

import sys

from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, check_inputs, new_parser, start_frameworks
from astromer.compat import COMPAT_MODES


@console_script("astromer-embed")
def main(argv=None):
    parser = new_parser("astromer-embed", __doc__)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", required=True, help="Parquet/CSV file or folder (id, time, mag, err[, band])")
    parser.add_argument("--out", default="embeddings.parquet")
    parser.add_argument("--preset", help="preset of --weights when it cannot be read from them")
    parser.add_argument("--band", help="embed only this band")
    parser.add_argument("--layer", default="last", help='"last", "input", "mix" or a block index')
    parser.add_argument("--pooling", default="mean", choices=("mean", "max"))
    parser.add_argument("--windows", default="nonoverlapping", choices=("nonoverlapping", "original"),
                        help="original: the A1 library's right-aligned last window")
    parser.add_argument("--float32-first", action="store_true", help="original float32 centring")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--padded", action="store_true",
                        help="full windows, not cut to length buckets (padding-free inference is the default "
                             "where the model keeps padding out of attention; same vectors within 1e-5)")
    parser.add_argument("--compat", default="auto", choices=COMPAT_MODES,
                        help="original: the original library's windows, float32 centring and cleaning (errors "
                             "outside (0, 1) kept), to reproduce its embeddings; auto (default): original for "
                             "weights converted from an original checkpoint")
    parser.add_argument("--min-error", type=float, help="drop rows with an error <= this (default 0; compat "
                                                          "original: keep all)")
    parser.add_argument("--max-error", type=float, help="drop rows with an error >= this (default 1)")
    parser.add_argument("--min-observations", type=int, help="skip light curves with fewer (default 1)")
    parser.add_argument("--time-offset", type=float, default=0.0, metavar="DAYS",
                        help="days subtracted from every time as it is read (e.g. to bring times to MJD; Julian "
                             "Dates are moved to MJD by themselves under compat original)")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first light curve that cannot be embedded (default: skip it, name it "
                             "and count it in the report)")
    parser.add_argument("--no-standardize", dest="standardize", action="store_false",
                        help="write the raw embeddings (default: standardised per dimension with this table's "
                             "mean and std, saved to <out>.stats.json, for cosine / nearest-neighbour search)")
    parser.add_argument("--statistics", metavar="STATS_JSON",
                        help="standardise with the statistics of an earlier run (new objects searched against "
                             "a catalogue)")
    add_survey_options(parser, features=True)
    add_verbose_option(parser)
    args = parser.parse_args(argv)
    check_inputs(args)  # a wrong path is answered before the frameworks start
    start_frameworks(args.verbose)
    import logging

    from astromer.embedding import EmbedSettings, run

    # The command prints the cleaning report itself, on stdout.
    logging.getLogger("astromer.embedding").setLevel(logging.ERROR)
    cleaning = {"min_error": args.min_error, "max_error": args.max_error, "min_observations": args.min_observations}
    if args.workers or args.scheduler or args.features:
        return run_survey(args, {k: v for k, v in cleaning.items() if v is not None})
    result = run(EmbedSettings(
        args.weights, args.data, args.out, preset=args.preset, pooling=args.pooling, band=args.band,
        layer=int(args.layer) if args.layer.lstrip("-").isdigit() else args.layer, window_mode=args.windows,
        float32_first=args.float32_first, batch_size=args.batch, compat=args.compat,
        cleaning_overrides={k: v for k, v in cleaning.items() if v is not None},
        on_error="raise" if args.strict else "skip", time_offset=args.time_offset, standardize=args.standardize,
        statistics=args.statistics, padding_free=False if args.padded else None))
    print(result.report.summary())
    how = ("raw" if not (args.standardize or args.statistics) else
           f"standardised with {args.statistics}" if args.statistics else
           f"standardised, statistics in {args.out}.stats.json")
    print(f"wrote {result.count} embeddings of size {result.dim} to {args.out} ({how})")
    return 0


def add_survey_options(parser, features):
    """--workers / --scheduler (a partitioned input on Dask), and for
    astromer-embed --features with its --bands / --max-baseline."""
    group = parser.add_argument_group("survey (docs/survey.md)")
    group.add_argument("--workers", type=int, metavar="N",
                       help="start a local Dask cluster of N worker processes; the input is a folder of Parquet "
                            "files or a HATS catalogue, --out a folder")
    group.add_argument("--scheduler", metavar="ADDRESS", help="join the Dask cluster at ADDRESS instead")
    if features:
        group.add_argument("--features", action="store_true",
                           help="also the 44 hand-crafted features per band, in the same rows")
        group.add_argument("--bands", nargs="+", help="feature bands (default: every band of the data)")
        group.add_argument("--max-baseline", type=float, metavar="DAYS",
                           help="periodogram grid of the features (default: the longest span of all the data)")


def run_survey(args, cleaning):
    """The survey workflow: a Dask job over partitions, or (--features
    alone) the same task on one table."""
    from astromer.core.standardize import read_statistics
    from astromer.survey import SurveySettings
    from astromer.survey.job import JobSettings, run, summary

    settings = SurveySettings(
        args.weights, preset=args.preset, layer=int(args.layer) if args.layer.lstrip("-").isdigit() else args.layer,
        pooling=args.pooling, band=args.band, window_mode=args.windows, float32_first=args.float32_first,
        batch_size=args.batch, compat=args.compat, cleaning_overrides=tuple(sorted(cleaning.items())),
        on_error="raise" if args.strict else "skip", time_offset=args.time_offset, features=args.features,
        bands=tuple(args.bands) if args.bands else None, max_baseline=args.max_baseline,
        statistics=read_statistics(args.statistics) if args.statistics else None,
        padding_free=False if args.padded else None)
    job = JobSettings(args.data, args.out, settings, workers=args.workers, scheduler=args.scheduler,
                      standardize=args.standardize)
    if not (args.workers or args.scheduler):
        from astromer.survey.single import run_table

        count, cleaning_report, _ = run_table(job)
        print(cleaning_report.summary())
        print(f"wrote {count} embeddings and features to {args.out} (report: {args.out}.report.json)")
        return 0
    print(summary(run(job), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
