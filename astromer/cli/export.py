"""`astromer-export`: an encoder as an ONNX file (or SavedModel) with the
`light-curve` embedding hub's inputs and outputs.

    astromer-export --weights path/to/astromer1-macho --out astromer1.onnx
    astromer-export --weights runs/a2 --format savedmodel --out a2_savedmodel

Inputs `input`, `times`, `mask_in` (1 = valid observation), each
(batch, window, 1) float32, windows centred on their own mean; outputs
`mean`, `max` (batch, dim) and `sequence` (batch, window, dim). The file is
written under a temporary name beside --out, checked on random windows
against the Keras model (ONNX under onnxruntime, a SavedModel loaded back),
and renamed to --out only when every output is within the limits
(docs/export.md); otherwise the command exits with 2 and writes nothing.
Needs the `export` extra: pip install 'astromer[export]'.
"""

import argparse
import sys

from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, check_inputs, start_frameworks
from astromer.export.checks import LIMITS


def _limit(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a limit; pass a number >= 0, e.g. 1e-4")
    return value


@console_script("astromer-export")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="astromer-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="run folder, .keras, original checkpoint or .weights.h5")
    parser.add_argument("--preset", help="preset of a .weights.h5 file")
    parser.add_argument("--format", default="onnx", choices=("onnx", "savedmodel"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--atol-mean", type=_limit, default=LIMITS.mean, metavar="X",
                        help=f"largest |exported - Keras| allowed for the mean output (default {LIMITS.mean:g})")
    parser.add_argument("--atol-steps", type=_limit, default=LIMITS.steps, metavar="X",
                        help=f"the same for the single-step outputs max and sequence (default {LIMITS.steps:g})")
    add_verbose_option(parser)
    args = parser.parse_args(argv)
    check_inputs(args)  # a wrong path is answered before the frameworks start
    start_frameworks(args.verbose)
    from astromer.export import CheckLimits, ExportSettings, run

    print(run(ExportSettings(args.weights, args.out, args.format, args.preset,
                             limits=CheckLimits(mean=args.atol_mean, steps=args.atol_steps))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
