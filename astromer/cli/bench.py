"""`astromer-bench`: throughput benchmarks with JSON output (one object per line on stdout).

    astromer-bench data [--data PATH] [--batch 256] [--steps 100] [--threads 1 0]
    astromer-bench embed [--data TABLE | --light-curves 200000] [--preset a1 | --weights W] [--padded]
    astromer-bench embed --compare-padding --preset a2 --light-curves 3000 [--lengths eros crts]
    astromer-bench model --preset a2 [--batch 1024 2500] [--precision bf16|fp32] [--mode train|embed]
    astromer-bench hlo --preset a2 [--batch 2048] [--mode train|embed]   (JAX; no GPU needed)
    astromer-bench original --original-python ENV/bin/python --weights W [--light-curves 24 240]

data: windows/s of the input pipelines (tf.data and NumPy); model: the model
alone on synthetic windows already on the device (windows/s, TFLOP/s, peak
memory; --reference, --profile, --sync end); hlo: a step compiled for an
H100 without one, with a roofline estimate; embed: astromer-embed's light
curves/s and peak memory; original: embedding speed against the original
library (ASTROMER 0.1.8) in its own environment. What each measures and
how: docs/performance.md.
"""

import argparse
import dataclasses
import sys

from astromer.bench.settings import (ATTENTIONS, MODES, PRECISIONS, DataBench, EmbedBench, HloBench, ModelBench,
                                     OriginalBench, SurveyBench)
from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, check_inputs, start_frameworks


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def parser():
    p = argparse.ArgumentParser(prog="astromer-bench", description=__doc__, formatter_class=_Formatter)
    sub = p.add_subparsers(dest="what", required=True)

    def command(name, settings, help):
        # The defaults are the settings' (`astromer.bench.settings`).
        command = sub.add_parser(name, help=help, formatter_class=_Formatter)
        command.set_defaults(settings=settings, **{
            f.name: list(f.default) if isinstance(f.default, tuple) else f.default
            for f in dataclasses.fields(settings) if f.default is not dataclasses.MISSING})
        return command

    data = command("data", DataBench, "input pipeline windows/s")
    data.add_argument("--data", help="TFRecord folder or Parquet/CSV table; None: simulated")
    data.add_argument("--light-curves", type=int, help="simulated light curves")
    data.add_argument("--batch", type=int, help="windows per batch")
    data.add_argument("--window", type=int, help="steps per window")
    data.add_argument("--steps", type=int, help="timed batches")
    data.add_argument("--warmup", type=int, help="batches read before timing")
    data.add_argument("--threads", type=int, nargs="+", help="0 = all cores")
    data.add_argument("--path", dest="paths", nargs="+", choices=("tf", "numpy"), help="pipelines")
    model = command("model", ModelBench, "model training/embedding windows/s on synthetic windows")
    model.add_argument("--preset", help="preset name or YAML file")
    model.add_argument("--batch", dest="batches", type=int, nargs="+", help="batch sizes, a row each")
    model.add_argument("--precision", choices=PRECISIONS, help="bf16: mixed bfloat16")
    model.add_argument("--mode", choices=MODES, help="training or embedding steps")
    model.add_argument("--attention", choices=ATTENTIONS,
                       help="lengths: masked keys sorted last and cut by key lengths (needs an excluding "
                            "mask: --set model.mask_alpha=-1e9 for a2-original, as the reference uses)")
    model.add_argument("--steps", type=int, help="timed steps")
    model.add_argument("--warmup", type=int, help="steps run before timing")
    model.add_argument("--sync", choices=("step", "end"),
                       help="step: every step's result is brought to the host; end (JAX, PyTorch): steps "
                            "are queued back to back and only the last is waited for, as the PyTorch reference "
                            "times itself")
    model.add_argument("--no-jit", dest="jit", action="store_false", help="compile without XLA")
    model.add_argument("--torch-compile-mode", choices=("default", "reduce-overhead", "max-autotune",
                                                        "max-autotune-no-cudagraphs"),
                       help="PyTorch: torch.compile mode of the step graphs (astromer.models.torch_graph)")
    model.add_argument("--prng", choices=("threefry2x32", "rbg", "unsafe_rbg"), help="JAX random generator")
    model.add_argument("--reference", metavar="SCRIPT",
                       help="first run this reference (shared/bench/torch_a2_reference.py) with the same "
                            "--mode/--batch/--steps and add its windows/s and our ratio to each row")
    model.add_argument("--profile", metavar="DIR",
                       help="also trace --profile-steps steps (JAX backend) into DIR and add a kernel breakdown")
    model.add_argument("--profile-steps", type=int, help="steps traced with --profile")
    model.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", help="a preset setting")
    hlo = command("hlo", HloBench, "roofline estimate of one step compiled for an H100, without a GPU (JAX)")
    hlo.add_argument("--preset", help="preset name or YAML file")
    hlo.add_argument("--batch", type=int, help="windows per step")
    hlo.add_argument("--precision", choices=PRECISIONS, help="bf16: mixed bfloat16")
    hlo.add_argument("--mode", choices=MODES, help="a training or an embedding step")
    hlo.add_argument("--attention", choices=ATTENTIONS, help="as for model")
    hlo.add_argument("--top", type=int, help="kernel kinds and layers to list")
    hlo.add_argument("--dump", metavar="FILE", help="also write the optimized HLO text to FILE")
    hlo.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", help="a preset setting")
    embed = command("embed", EmbedBench, "embedding throughput and peak memory")
    embed.add_argument("--data", help="Parquet/CSV table; None: simulated")
    embed.add_argument("--light-curves", type=int, help="simulated light curves")
    embed.add_argument("--preset", help="preset name or YAML file")
    embed.add_argument("--weights", help="weights; None: the preset's random initialisation")
    embed.add_argument("--batch", type=int, help="windows per batch")
    embed.add_argument("--progress", action="store_true", help="show a progress line")
    embed.add_argument("--padded", action="store_true", help="full windows even where padding-free is valid")
    embed.add_argument("--compare-padding", action="store_true",
                       help="padded vs padding-free light curves/s on survey-like lengths (one row per --lengths)")
    embed.add_argument("--lengths", nargs="+", choices=("eros", "crts"), help="length distributions to compare on")
    embed.add_argument("--shared", metavar="DIR",
                       help="folder with the surveys' light curves whose lengths are sampled (default: "
                            "$ASTROMER_SHARED or ../shared; else synthetic lengths)")
    survey = command("survey", SurveyBench, "a partitioned job: astromer-embed --workers N vs one process")
    survey.add_argument("--light-curves", type=int, help="simulated light curves")
    survey.add_argument("--files", type=int, help="Parquet files (partitions) they are split into")
    survey.add_argument("--workers", type=int, help="Dask worker processes")
    survey.add_argument("--preset", help="preset name or YAML file")
    survey.add_argument("--weights", help="weights; None: the preset's random initialisation")
    survey.add_argument("--batch", type=int, help="windows per batch")
    original = command("original", OriginalBench,
                       "embedding speed against the original library (ASTROMER 0.1.8), run in its own environment")
    original.add_argument("--original-python", required=True,
                          help="python of an environment with ASTROMER 0.1.8 (see astromer/bench/original.py)")
    original.add_argument("--weights", required=True, help="an original checkpoint (e.g. shared/weights/astromer1-macho)")
    original.add_argument("--light-curves", type=int, nargs="+", help="simulated light curves, a run each")
    original.add_argument("--original-batches", type=int, nargs="+", help="the original's batch sizes")
    original.add_argument("--batch", dest="batches", type=int, nargs="+", help="our batch sizes")
    original.add_argument("--repeats", type=int, help="times each measurement is repeated")
    original.add_argument("--original-chunk", type=int, metavar="N",
                          help="light curves per call of the original's encode; 0: all at once")
    original.add_argument("--original-timeout", type=float, metavar="SECONDS",
                          help="stop the original after this long per batch size and report its rate over the "
                               "chunks it finished (with --original-chunk)")
    add_verbose_option(p)
    return p


def settings_of(args):
    """The subcommand's settings dataclass, filled from the options."""
    given = vars(args)
    return args.settings(**{f.name: given[f.name] for f in dataclasses.fields(args.settings)})


@console_script("astromer-bench")
def main(argv=None):
    args = parser().parse_args(argv)
    settings = settings_of(args)
    check_inputs(args)  # a wrong path is answered before the frameworks start
    start_frameworks(args.verbose)
    from astromer import bench

    # An unknown preset or setting, an option the backend cannot run, or a
    # benchmark that cannot run: a user error, one line, exit 2.
    bench.run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
