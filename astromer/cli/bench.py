"""`astromer-bench`: throughput benchmarks with JSON output.

    astromer-bench data [--data PATH] [--batch 256] [--steps 100] [--threads 1 0]
    astromer-bench embed [--data TABLE | --light-curves 200000] [--preset a1 | --weights W]
    astromer-bench model --preset a2 [--batch 1024 2500] [--precision bf16|fp32] [--mode train|embed]
    astromer-bench hlo --preset a2 [--batch 2048] [--mode train|embed]   (JAX; no GPU needed)
    astromer-bench original --original-python ENV/bin/python --weights W [--light-curves 24 240]

`original` embeds the same simulated light curves with the original
python-library (ASTROMER 0.1.8, in its own environment) and with
`astromer-embed`, repeated, and gives our speed as a ratio to theirs
(astromer/bench/original.py says how to install the other environment).

`data` measures windows/s of the input pipelines (pretraining windows with
probe masks): the tf.data path (TFRecords) and the NumPy path. `--threads 0`
means all cores. With no `--data`, a simulated survey is written to a
temporary folder first.

`model` times the model alone on synthetic windows already on the device
(the shape of the PyTorch reference `shared/bench/torch_a2_reference.py`:
magnitudes N(0, 0.3), sorted times in [-1500, 1500] d, 50% probed of which
60% hidden in training, nothing masked in embedding mode): warm-up steps,
then `--steps` timed steps, each forced to the host (the loss in training,
the pooled embeddings in embedding mode). It reports windows/s, achieved
TFLOP/s and peak device memory. FLOPs per window are counted from the
model (see `model_flops`): 2 FLOPs per multiply-add of every dense and
convolution kernel applied to every step, plus 4 L d per step and
attention block for the scores and the weighted sum; training counts 3x
the forward pass (forward + backward).

`--sync end` (JAX) queues the timed steps and waits for the last one
only, as the PyTorch reference times itself; the default `--sync step`
brings every step's result to the host.

`--reference SCRIPT` runs the PyTorch reference first, in a subprocess
with the same mode, batches and steps, and adds its windows/s and the
ratio ours / reference to each row: the two numbers of one session.

`--profile DIR` (JAX backend) traces a few more steps and adds where
their time goes: device time per step by kernel kind (matmul, attention,
elementwise fusions, ...) and the top kernels
(`astromer.bench.profiling`); the trace in DIR opens in TensorBoard / XProf.

`hlo` (JAX) compiles one training or embedding step for an H100 without
one (JAX's deviceless compilation; needs `pip install 'jax[cuda12]'`,
no GPU or driver) and estimates from the compiled program where the time
would go: kernels, bytes moved, matmul FLOPs and a roofline time by
kernel kind and by Keras layer (`astromer.bench.roofline`). An estimate
to compare configurations with, not a measurement.

`embed` streams a catalogue (by default a simulated Parquet table of
`--light-curves` objects) through `astromer-embed`'s code path and reports
light curves/s and the peak resident memory, which must not grow with the
catalogue.

One JSON object per line on stdout.
"""

import argparse

from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, check_inputs, start_frameworks


@console_script("astromer-bench")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="astromer-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    data = sub.add_parser("data", help="input pipeline windows/s")
    data.add_argument("--data", help="TFRecord folder or Parquet/CSV table (default: simulated)")
    data.add_argument("--light-curves", type=int, default=3000, help="simulated light curves")
    data.add_argument("--batch", type=int, default=256)
    data.add_argument("--window", type=int, default=200)
    data.add_argument("--steps", type=int, default=100)
    data.add_argument("--warmup", type=int, default=5)
    data.add_argument("--threads", type=int, nargs="+", default=[1, 0], help="0 = all cores")
    data.add_argument("--path", nargs="+", choices=("tf", "numpy"), default=["tf", "numpy"])
    model = sub.add_parser("model", help="model training/embedding windows/s on synthetic windows")
    model.add_argument("--preset", default="a2")
    model.add_argument("--batch", type=int, nargs="+", default=[1024, 2500])
    model.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    model.add_argument("--mode", choices=("train", "embed"), default="train")
    model.add_argument("--attention", choices=("auto", "explicit", "fused", "lengths"), default="auto",
                       help="lengths: masked keys sorted last and cut by key lengths (needs an excluding "
                            "mask: --set model.mask_alpha=-1e9 for a2-original, as the reference uses)")
    model.add_argument("--steps", type=int, default=30)
    model.add_argument("--warmup", type=int, default=3)
    model.add_argument("--sync", choices=("step", "end"), default="step",
                       help="step: every step's result is brought to the host; end (JAX, PyTorch): steps are queued back "
                            "to back and only the last is waited for, as the PyTorch reference times itself")
    model.add_argument("--no-jit", dest="jit", action="store_false")
    model.add_argument("--torch-compile-mode", choices=("default", "reduce-overhead", "max-autotune",
                                                        "max-autotune-no-cudagraphs"),
                       help="PyTorch: torch.compile mode of the step graphs (astromer.models.torch_graph)")
    model.add_argument("--prng", choices=("threefry2x32", "rbg", "unsafe_rbg"), help="JAX random generator")
    model.add_argument("--reference", metavar="SCRIPT",
                       help="first run this reference (shared/bench/torch_a2_reference.py) with the same "
                            "--mode/--batch/--steps and add its windows/s and our ratio to each row")
    model.add_argument("--profile", metavar="DIR",
                       help="also trace --profile-steps steps (JAX backend) into DIR and add a kernel breakdown")
    model.add_argument("--profile-steps", type=int, default=5)
    model.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    hlo = sub.add_parser("hlo", help="roofline estimate of one step compiled for an H100, without a GPU (JAX)")
    hlo.add_argument("--preset", default="a2")
    hlo.add_argument("--batch", type=int, default=2048)
    hlo.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    hlo.add_argument("--mode", choices=("train", "embed"), default="train")
    hlo.add_argument("--attention", choices=("auto", "explicit", "fused", "lengths"), default="auto")
    hlo.add_argument("--top", type=int, default=12, help="kernel kinds and layers to list")
    hlo.add_argument("--dump", metavar="FILE", help="also write the optimized HLO text to FILE")
    hlo.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    embed = sub.add_parser("embed", help="embedding throughput and peak memory")
    embed.add_argument("--data", help="Parquet/CSV table (default: simulated)")
    embed.add_argument("--light-curves", type=int, default=20000, help="simulated light curves")
    embed.add_argument("--preset", default="a1")
    embed.add_argument("--weights", help="weights (default: the preset's random initialisation)")
    embed.add_argument("--batch", type=int, default=256)
    embed.add_argument("--progress", action="store_true")
    original = sub.add_parser("original", help="embedding speed against the original library (ASTROMER 0.1.8), "
                                               "run in its own environment")
    original.add_argument("--original-python", required=True,
                          help="python of an environment with ASTROMER 0.1.8 (see astromer/bench/original.py)")
    original.add_argument("--weights", required=True, help="an original checkpoint (e.g. shared/weights/astromer1-macho)")
    original.add_argument("--light-curves", type=int, nargs="+", default=[24, 240])
    original.add_argument("--original-batches", type=int, nargs="+", default=[1, 256])
    original.add_argument("--batch", type=int, nargs="+", default=[256, 8])
    original.add_argument("--repeats", type=int, default=3)
    original.add_argument("--original-chunk", type=int, default=0, metavar="N",
                          help="light curves per call of the original's encode (default: all at once)")
    original.add_argument("--original-timeout", type=float, metavar="SECONDS",
                          help="stop the original after this long per batch size and report its rate over the "
                               "chunks it finished (with --original-chunk)")
    add_verbose_option(parser)
    args = parser.parse_args(argv)
    check_inputs(args)  # a wrong path is answered before the frameworks start
    start_frameworks(args.verbose)
    from astromer.bench import BenchError, run_data, run_embed, run_original

    try:
        if args.what == "data":
            run_data(data=args.data, light_curves=args.light_curves, batch=args.batch, window=args.window,
                     steps=args.steps, warmup=args.warmup, threads=args.threads, paths=args.path)
            return
        if args.what == "original":
            run_original(original_python=args.original_python, weights=args.weights, light_curves=args.light_curves,
                         original_batches=args.original_batches, batches=args.batch, repeats=args.repeats,
                         original_chunk=args.original_chunk, original_timeout=args.original_timeout)
            return
        if args.what == "embed":
            run_embed(data=args.data, light_curves=args.light_curves, preset=args.preset, weights=args.weights,
                      batch=args.batch, progress=args.progress)
            return
        _run_on_model(parser, args)
    except BenchError as error:
        # A run that cannot go on, not a bug: the message alone, exit 1.
        raise SystemExit(str(error)) from None


def _run_on_model(parser, args):
    """`hlo` and `model`: options checked against the backend, and an unknown
    preset or setting reported as a usage error (exit 2), in one line."""
    import keras

    from astromer.bench import run_hlo, run_model
    from astromer.training import ConfigError

    backend = keras.backend.backend()
    if args.what == "hlo":
        if backend != "jax":
            parser.error(f"hlo needs KERAS_BACKEND=jax (this is {backend}).")
    else:
        if args.profile and backend != "jax":
            parser.error(f"--profile needs KERAS_BACKEND=jax (this is {backend}).")
        if args.sync == "end" and backend not in ("jax", "torch"):
            parser.error(f"--sync end needs KERAS_BACKEND=jax or torch (this is {backend}); use --sync step.")
        if args.profile and args.profile_steps < 1:
            parser.error(f"--profile-steps must be at least 1, got {args.profile_steps}.")
    try:
        if args.what == "hlo":
            run_hlo(preset=args.preset, batch=args.batch, precision=args.precision, mode=args.mode,
                    attention=args.attention, top=args.top, dump=args.dump, overrides=args.overrides)
        else:
            run_model(preset=args.preset, batches=args.batch, precision=args.precision, mode=args.mode,
                      attention=args.attention, steps=args.steps, warmup=args.warmup, sync=args.sync, jit=args.jit,
                      torch_compile_mode=args.torch_compile_mode, prng=args.prng, reference=args.reference,
                      profile=args.profile, profile_steps=args.profile_steps, overrides=args.overrides)
    except ConfigError as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
