"""`astromer-train`: masked-reconstruction pretraining.

    astromer-train --preset a2                      # the bundled demo survey
    astromer-train --preset a2 --data records/crts  # TFRecords (train/ val/ test/)
    astromer-train --preset a2 --data table.parquet --set pretraining.batch_size=512
    astromer-train --out runs/a2 --resume           # continue a killed run
    astromer-train --out runs/a2 --resume --epochs 20   # continue a finished run up to epoch 20
    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}' \
        astromer-train --preset a2 --data table.parquet --out /shared/runs/a2   # one per machine
    KERAS_BACKEND=jax astromer-train --coordinator host1:1234 --num-processes 2 --process-id 0 \
        --data table.parquet --out /shared/runs/a2                              # one per machine

Several machines: docs/distributed.md (TensorFlow workers by TF_CONFIG, JAX
processes by --coordinator or Slurm; --resume after a lost worker).

Settings come from the preset file, then (without --data) its `demo`
section, then every `--set section.key=value` (and --epochs). With --data,
the batch, learning rate and warm-up not given follow the training split
(docs/pretraining.md, "Settings that fit the data": a batch of at most
1/8 of the training light curves, the rate scaled by the square root of
the batch); the values and their sources are printed before training. The
run folder gets the resolved config, checkpoints, history.csv, TensorBoard
logs, the learning curves (PNG), model.keras and backbone.weights.h5; a
run refused for its settings or data leaves no folder.
"""

import argparse
import os
import sys

from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, new_parser, start_frameworks


def add_run_options(parser, out_help):
    """The options astromer-train and astromer-finetune share: settings,
    run folder, resume, distribution, determinism, progress."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a preset setting, e.g. pretraining.batch_size=256 (repeatable)")
    parser.add_argument("--out", help=out_help)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--epochs", type=epoch_count, metavar="N",
                        help="train up to epoch N, counted from 1 over the whole run (pretraining.epochs); with "
                             "--resume, a finished run continues up to N")
    parser.add_argument("--strategy", default="auto",
                        choices=("auto", "none", "mirrored", "multiworker", "data-parallel"),
                        help="distribution (auto: MirroredStrategy with several GPUs, MultiWorker with "
                             "TF_CONFIG, JAX DataParallel with several devices or processes)")
    parser.add_argument("--deterministic", action="store_true",
                        help="TensorFlow op determinism: bitwise-identical reruns, but no XLA (slower)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_verbose_option(parser)


def epoch_count(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of epochs: pass a whole number, at least 1")
    return value


def command_overrides(args):
    """The `--set` assignments of a command line, `--epochs N` among them."""
    return list(args.overrides) + ([f"pretraining.epochs={args.epochs}"] if args.epochs is not None else [])


def build_parser():
    parser = new_parser("astromer-train", __doc__)
    parser.add_argument("--preset", default="a2", help="preset name or YAML file (default a2)")
    parser.add_argument("--data", help="TFRecord folder or Parquet/CSV table (default: the demo survey)")
    add_run_options(parser, out_help="run folder (default runs/<preset>-<time>)")
    parser.add_argument("--input", dest="input_path", default="auto", choices=("auto", "tfdata", "numpy"),
                        help="input pipeline (auto: tf.data when TensorFlow is installed)")
    add_cluster_options(parser)
    return parser


def add_cluster_options(parser):
    """Training over several workers (docs/distributed.md)."""
    group = parser.add_argument_group("several machines (TensorFlow: TF_CONFIG; JAX: these or the environment)")
    group.add_argument("--global-batch", type=int, metavar="N",
                       help="windows per step over all replicas (default: pretraining.batch_size per replica); "
                            "must divide among the replicas")
    group.add_argument("--coordinator", metavar="HOST:PORT",
                       help="JAX: process 0's address (or KERAS_DISTRIBUTION_JOB_ADDRESSES / "
                            "JAX_COORDINATOR_ADDRESS; Slurm: found by JAX)")
    group.add_argument("--num-processes", metavar="N", help="JAX: number of processes")
    group.add_argument("--process-id", metavar="I", help="JAX: this process's id, 0 to N-1 (0 writes the run)")
    group.add_argument("--cluster-timeout", type=float, default=300, metavar="SECONDS",
                       help="how long to wait for the other workers to join (default 300)")


@console_script("astromer-train")
def main(argv=None):
    args = build_parser().parse_args(argv)
    from astromer.distribute import WORKER_LOST_EXIT, check_command
    from astromer.errors import WorkerLost
    from astromer.training.settings import TrainSettings

    # The settings, then TF_CONFIG, the JAX processes and the global batch
    # over the workers, are checked before Keras starts: a typo is answered
    # at once (a ConfigError, which console_script prints).
    settings = TrainSettings.resolve(
        preset=args.preset, data=args.data, overrides=command_overrides(args), out=args.out, resume=args.resume,
        strategy=args.strategy, input_path=args.input_path, deterministic=args.deterministic, quiet=args.quiet,
        global_batch=args.global_batch, cluster_timeout=args.cluster_timeout)
    settings.cluster = check_command(args.strategy, args.global_batch, args.coordinator, args.num_processes,
                                     args.process_id)
    start_frameworks(args.verbose)
    from astromer.training import pretraining

    try:
        pretraining.run(settings)
    except WorkerLost as error:
        # At once: a normal exit would wait for the lost worker at JAX's
        # shutdown barrier, which then aborts the process with a C++ trace.
        print(f"astromer-train: error: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(WORKER_LOST_EXIT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
