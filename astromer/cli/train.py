"""`astromer-train`: masked-reconstruction pretraining.

    astromer-train --preset a2                      # the bundled demo survey
    astromer-train --preset a2 --data records/crts  # TFRecords (train/ val/ test/)
    astromer-train --preset a2 --data table.parquet --set pretraining.batch_size=512
    astromer-train --out runs/a2 --resume           # continue a killed run

Settings come from the preset file, then (without --data) its `demo`
section, then every `--set section.key=value`. The run folder gets the
resolved config, checkpoints, history.csv, TensorBoard logs, the learning
curves (PNG), model.keras and backbone.weights.h5.
"""

import argparse
import sys

from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, start_frameworks


def add_run_options(parser, out_help):
    """The options astromer-train and astromer-finetune share: settings,
    run folder, resume, distribution, determinism, progress."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a preset setting, e.g. pretraining.batch_size=256 (repeatable)")
    parser.add_argument("--out", help=out_help)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--strategy", default="auto",
                        choices=("auto", "none", "mirrored", "multiworker", "data-parallel"),
                        help="distribution (auto: MirroredStrategy with several GPUs, MultiWorker with "
                             "TF_CONFIG, JAX DataParallel with several devices)")
    parser.add_argument("--deterministic", action="store_true",
                        help="TensorFlow op determinism: bitwise-identical reruns, but no XLA (slower)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_verbose_option(parser)


def exit_code(prog, workflow, *args, **kwargs):
    """Runs `workflow(*args, **kwargs)`: 0 when it finishes, 2 with the
    message on stderr when it rejects its settings, weights or data
    (`ConfigError`); any other failure propagates with its traceback."""
    from astromer.training import ConfigError

    try:
        workflow(*args, **kwargs)
    except ConfigError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    return 0


def build_parser(prog="astromer-train", doc=__doc__):
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="a2", help="preset name or YAML file (default a2)")
    parser.add_argument("--data", help="TFRecord folder or Parquet/CSV table (default: the demo survey)")
    add_run_options(parser, out_help="run folder (default runs/<preset>-<time>)")
    parser.add_argument("--input", dest="input_path", default="auto", choices=("auto", "tfdata", "numpy"),
                        help="input pipeline (auto: tf.data when TensorFlow is installed)")
    return parser


@console_script("astromer-train")
def main(argv=None):
    args = build_parser().parse_args(argv)
    from astromer.training.settings import ConfigError, resolve_config, resumed_config

    # Preset and settings are checked before Keras starts: a typo is
    # answered at once.
    try:
        if args.resume:
            resumed_config(args.out, args.overrides)
        else:
            resolve_config(args.preset, args.overrides, demo=args.data is None)
    except ConfigError as error:
        print(f"astromer-train: error: {error}", file=sys.stderr)
        return 2
    start_frameworks(args.verbose)
    from astromer.training import run_pretraining

    return exit_code("astromer-train", run_pretraining, args.preset, args.data, args.overrides, out=args.out,
                     resume=args.resume, strategy=args.strategy, input_path=args.input_path,
                     deterministic=args.deterministic, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
