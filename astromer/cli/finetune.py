"""`astromer-finetune`: continue masked-reconstruction training on a target survey.

    astromer-finetune --weights runs/a2 --data records/eros_r
    astromer-finetune --weights path/to/astromer1-macho --data table.parquet \\
        --set pretraining.learning_rate=1e-4 --epochs 20
    astromer-finetune --weights runs/a2 --data table.parquet --out runs/ft --resume --epochs 40

--weights: a run folder of astromer-train, a .keras model, an original
checkpoint (folder with conf.json/config.json, or a legacy .h5), or a
.weights.h5 file with --preset. Before and after training, the reconstruction
RMSE and R2 on the target test split are computed on the hidden steps
(probes the model cannot see) and on all observations without masking
(Astromer 2 paper, Sect. 5.2); both, and the time taken, go to finetune.json
in the run folder. Training never shows the model a hidden magnitude,
whatever the preset (see hidden_steps in AstromerBackbone).

The batch, learning rate and warm-up not given with --set follow the
target's training split, scaled from the weights' own settings
(docs/pretraining.md, "Settings that fit the data"); they are printed, and
a batch the data does not fill is refused, before the "before" scores.
"""

import sys

from astromer.cli.errors import console_script
from astromer.cli.startup import check_inputs, new_parser, start_frameworks
from astromer.cli.train import add_run_options, command_overrides
from astromer.compat import COMPAT_MODES


def build_parser():
    parser = new_parser("astromer-finetune", __doc__)
    parser.add_argument("--weights", required=True, help="pretrained model (see above)")
    parser.add_argument("--data", required=True, help="TFRecord folder (train/ val/ test/) or Parquet/CSV table")
    parser.add_argument("--preset", help="preset of --weights when it cannot be read from them")
    parser.add_argument("--compat", default="auto", choices=COMPAT_MODES,
                        help="how the light curves are read, as astromer-embed --compat: original (errors outside "
                             "(0, 1) kept, float32-first centring) for weights converted from an original "
                             "checkpoint under auto (default), else default (the papers')")
    add_run_options(parser, out_help="run folder (default runs/finetune-<time>)")
    return parser


@console_script("astromer-finetune")
def main(argv=None):
    args = build_parser().parse_args(argv)
    check_inputs(args)  # a wrong path is answered before the frameworks start
    from astromer.training.settings import FinetuneSettings

    settings = FinetuneSettings(
        weights=args.weights, data=args.data, preset=args.preset, overrides=command_overrides(args), out=args.out,
        resume=args.resume, strategy=args.strategy, deterministic=args.deterministic, quiet=args.quiet,
        compat=args.compat)
    if settings.resume and not settings.out:
        from astromer.errors import ConfigError

        raise ConfigError("--resume needs --out, the run folder to continue.")
    start_frameworks(args.verbose)
    from astromer.training import finetuning

    finetuning.run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
