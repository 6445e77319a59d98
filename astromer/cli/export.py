"""`astromer-export`: an encoder as an ONNX file (or SavedModel) with the
`light-curve` embedding hub's inputs and outputs.

    astromer-export --weights path/to/astromer1-macho --out astromer1.onnx
    astromer-export --weights runs/a2 --format savedmodel --out a2_savedmodel

Inputs `input`, `times`, `mask_in` (1 = valid observation), each
(batch, window, 1) float32, windows centred on their own mean; outputs
`mean`, `max` (batch, dim) and `sequence` (batch, window, dim). The ONNX file
is checked under onnxruntime against the Keras model before the command
ends (docs/export.md). Needs the `export` extra: pip install 'astromer[export]'.
"""

import argparse
import sys

from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, start_frameworks


@console_script("astromer-export")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="astromer-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="run folder, .keras, original checkpoint or .weights.h5")
    parser.add_argument("--preset", help="preset of a .weights.h5 file")
    parser.add_argument("--format", default="onnx", choices=("onnx", "savedmodel"))
    parser.add_argument("--out", required=True)
    add_verbose_option(parser)
    args = parser.parse_args(argv)
    start_frameworks(args.verbose)
    from astromer.export import export_workflow

    report = export_workflow(args.weights, args.out, args.format, preset=args.preset)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
