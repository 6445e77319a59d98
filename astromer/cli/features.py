"""`astromer-features`: the hand-crafted light-curve features of a table.

    astromer-features ../shared/data/eros1_lmc/lightcurves.parquet --out eros_features.parquet

44 features per band (amplitude, scatter and percentile statistics, linear
trends, Otsu split, Stetson K, the three highest Lomb-Scargle peaks) from the
`light-curve` package, the set of the reference baseline
(astromer.core.features). Several bands side by side. Writes a Parquet
(or CSV, by extension) table with an `id` column, and `<out>.report.json`
with what was dropped or NaN (and the periodogram baseline: pass it again
with --max-baseline for new objects a trained classifier will read).

A folder of Parquet files or a HATS catalogue with --workers N or
--scheduler ADDRESS runs on Dask (docs/survey.md): --out is a folder, one
file per partition; the periodogram baseline is the longest span over all
partitions (a first pass) unless --max-baseline is given.
"""

import sys

from astromer.cli.errors import add_debug_option, console_script
from astromer.cli.startup import new_parser


@console_script("astromer-features")
def main(argv=None):
    parser = new_parser("astromer-features", __doc__)
    parser.add_argument("data", help="Parquet/CSV table or folder: id, time, mag, err[, band]")
    parser.add_argument("--out", required=True, help="output table (.parquet, .csv or .csv.gz)")
    parser.add_argument("--bands", nargs="+", help="bands, in column order (default: every band, sorted)")
    parser.add_argument("--max-baseline", type=float,
                        help="days; sets the periodogram grid (default: the longest span in the table)")
    parser.add_argument("--jobs", type=int, default=-1, help="threads (default: every core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_debug_option(parser)
    from astromer.cli.embed import add_survey_options

    add_survey_options(parser, features=False)
    args = parser.parse_args(argv)
    if args.workers or args.scheduler:
        from astromer.survey import SurveySettings
        from astromer.survey.job import JobSettings, run, summary

        settings = SurveySettings(embed=False, features=True, bands=tuple(args.bands) if args.bands else None,
                                  max_baseline=args.max_baseline)
        job = JobSettings(args.data, args.out, settings, workers=args.workers, scheduler=args.scheduler,
                          standardize=False, progress=not args.quiet)
        print(summary(run(job), args.out))
        return 0

    from astromer.core.features import write_feature_table

    report = write_feature_table(args.data, args.out, bands=args.bands, max_baseline=args.max_baseline,
                                 n_jobs=args.jobs, progress=not args.quiet)
    print(report.summary())
    print(f"features of {report.light_curves:,} light curves in {args.out} (report: {args.out}.report.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
