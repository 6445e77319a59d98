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
import os
import sys
from datetime import datetime


def build_parser(prog="astromer-train", doc=__doc__):
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="a2", help="preset name or YAML file (default a2)")
    parser.add_argument("--data", help="TFRecord folder or Parquet/CSV table (default: the demo survey)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a preset setting, e.g. pretraining.batch_size=256 (repeatable)")
    parser.add_argument("--out", help="run folder (default runs/<preset>-<time>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--strategy", default="auto",
                        choices=("auto", "none", "mirrored", "multiworker", "data-parallel"),
                        help="distribution (auto: MirroredStrategy with several GPUs, MultiWorker with "
                             "TF_CONFIG, JAX DataParallel with several devices)")
    parser.add_argument("--input", dest="input_path", default="auto", choices=("auto", "tfdata", "numpy"),
                        help="input pipeline (auto: tf.data when TensorFlow is installed)")
    parser.add_argument("--deterministic", action="store_true",
                        help="TensorFlow op determinism: bitwise-identical reruns, but no XLA (slower)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from astromer import training

    try:
        if args.resume:
            if not args.out:
                raise training.ConfigError("--resume needs --out, the run folder to continue.")
            saved = os.path.join(args.out, "config.yaml")
            if not os.path.exists(saved):
                raise training.ConfigError(f"{args.out!r} has no config.yaml: nothing to resume.")
            config = training.read_config(saved)
            if args.overrides:
                from astromer.presets import apply_overrides

                config = apply_overrides(config, args.overrides)
        else:
            config = training.resolve_config(args.preset, args.overrides, demo=args.data is None)
        out = args.out or os.path.join(
            "runs", f"{config.get('name', 'run')}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        )
        data = training.prepare_data(args.data, config, out, input_path=args.input_path)
    except (ValueError, FileNotFoundError) as error:
        print(f"astromer-train: error: {error}", file=sys.stderr)
        return 2
    try:
        summary = training.pretrain(
            config, data, out, resume=args.resume, strategy_kind=args.strategy,
            verbose=0 if args.quiet else 1, input_path=args.input_path, deterministic=args.deterministic,
        )
    except training.ConfigError as error:
        print(f"astromer-train: error: {error}", file=sys.stderr)
        return 2
    print(f"done: {summary['epochs_run']} epochs, best val_loss {summary['best_val_loss']:.4f} "
          f"(epoch {summary['best_epoch']}); outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
