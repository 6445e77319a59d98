"""`astromer-bench`: throughput benchmarks with JSON output.

    astromer-bench data [--data PATH] [--batch 256] [--steps 100] [--threads 1 0]
    astromer-bench embed [--data TABLE | --light-curves 200000] [--preset a1 | --weights W]
    astromer-bench model --preset a2 [--batch 1024 2500] [--precision bf16|fp32] [--mode train|embed]
    astromer-bench hlo --preset a2 [--batch 2048] [--mode train|embed]   (JAX; no GPU needed)

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
elementwise fusions, ...) and the top kernels (`astromer.profiling`); the
trace in DIR opens in TensorBoard / XProf.

`hlo` (JAX) compiles one training or embedding step for an H100 without
one (JAX's deviceless compilation; needs `pip install 'jax[cuda12]'`,
no GPU or driver) and estimates from the compiled program where the time
would go: kernels, bytes moved, matmul FLOPs and a roofline time by
kernel kind and by Keras layer (`astromer.roofline`). An estimate to
compare configurations with, not a measurement.

`embed` streams a catalogue (by default a simulated Parquet table of
`--light-curves` objects) through `astromer-embed`'s code path and reports
light curves/s and the peak resident memory, which must not grow with the
catalogue.

One JSON object per line on stdout.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def _environment():
    import platform

    import keras

    return {"backend": keras.backend.backend(), "cpus": os.cpu_count(), "machine": platform.machine()}


def _sources(args, workdir):
    """(records path or None, PackedLightCurves)."""
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.demo import simulate_survey
    from astromer.data.lightcurves import iter_light_curves

    if args.data is None:
        lcs = simulate_survey(args.light_curves, seed=0)
        packed = PackedLightCurves.from_light_curves(lcs)
        records = None
        if "tf" in args.path:
            from astromer.data.records import write_records

            records = os.path.join(workdir, "records")
            write_records(lcs, records, splits={"train": 1.0}, shards=8)
        return records, packed
    if os.path.isdir(args.data) and any(
        f.endswith((".record", ".tfrecord")) for _, _, fs in os.walk(args.data) for f in fs
    ):
        packed = None
        if "numpy" in args.path:
            from astromer.data.records import read_records

            packed = PackedLightCurves.from_light_curves(read_records(args.data))
        return args.data, packed
    return None, PackedLightCurves.from_light_curves(iter_light_curves(args.data))


def bench_tf(records, args, config, threads):
    import tensorflow as tf

    from astromer.data.datasets import tf_dataset

    options = tf.data.Options()
    options.threading.private_threadpool_size = threads or os.cpu_count()
    options.threading.max_intra_op_parallelism = 1
    ds, steps = tf_dataset(records, config, args.batch, mode="pretrain", epochs=10**6, options=options)
    iterator = iter(ds)
    for _ in range(args.warmup):
        next(iterator)
    start = time.perf_counter()
    windows = 0
    for _ in range(args.steps):
        x, _ = next(iterator)
        windows += int(x["magnitudes"].shape[0])
    return windows / (time.perf_counter() - start)


def bench_numpy(packed, args, config, threads):
    from astromer.data.datasets import NumpyWindowDataset

    data = NumpyWindowDataset(packed, config, args.batch, mode="pretrain")
    n = len(data)
    for i in range(args.warmup):
        data[i % n]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count()) as pool:
        batches = list(pool.map(lambda i: data[i % n], range(args.steps)))
    elapsed = time.perf_counter() - start
    return sum(int(b[0]["magnitudes"].shape[0]) for b in batches) / elapsed


def run_data(args):
    from astromer.data.datasets import PipelineConfig

    config = PipelineConfig(window_size=args.window)
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        records, packed = _sources(args, workdir)
        for path in args.path:
            for threads in args.threads:
                if path == "tf":
                    if records is None:
                        print("tf path skipped: --data is not a TFRecord folder", file=sys.stderr)
                        continue
                    rate = bench_tf(records, args, config, threads)
                else:
                    rate = bench_numpy(packed, args, config, threads)
                result = {
                    "bench": "data",
                    "path": "tf.data" if path == "tf" else "numpy",
                    "threads": threads or os.cpu_count(),
                    "batch": args.batch,
                    "windows_per_s": round(rate, 1),
                    "source": args.data or f"simulated:{args.light_curves}",
                    **_environment(),
                }
                print(json.dumps(result), flush=True)
                results.append(result)
    return results


def model_flops(backbone, mode):
    """Forward (embed) or forward+backward (train, 3x) FLOPs per window."""
    import keras

    window = backbone.window_size
    per_step = 0
    attention_blocks = 0
    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Dense):
            per_step += 2 * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.DepthwiseConv1D)):
            kernel = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel
            per_step += 2 * int(np.prod(kernel.shape))
        if type(layer).__name__ == "AstromerAttention":
            attention_blocks += 1
            # Q, K, V are three Dense sub-layers but the layer runs them as one
            # fused matmul through their kernels: already counted above.
    per_step += attention_blocks * 4 * window * backbone.hidden_dim
    forward = per_step * window
    return forward * (3 if mode == "train" else 1)


def _device_memory_peak():
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                return stats["peak_bytes_in_use"]
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return tf.config.experimental.get_memory_info("GPU:0")["peak"]
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.max_memory_allocated()
    except Exception:  # memory statistics are best effort
        return None
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _on_device(tree):
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.device_put(tree)
    if backend == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        return {k: torch.as_tensor(v, device=device) for k, v in tree.items()}
    if backend == "tensorflow":
        import tensorflow as tf

        return {k: tf.constant(v) for k, v in tree.items()}
    return tree


def synthetic_windows(batch, window, seed=0, masked=True):
    rng = np.random.default_rng(seed)
    magnitudes = rng.normal(0, 0.3, (batch, window)).astype("float32")
    times = np.sort(rng.uniform(-1500, 1500, (batch, window)), 1).astype("float32")
    probe = (rng.uniform(size=(batch, window)) < 0.5).astype("float32") if masked else np.zeros((batch, window), "float32")
    hidden = probe * (rng.uniform(size=(batch, window)) < 0.6)
    x = {"magnitudes": magnitudes * (1 - hidden), "times": times, "errors": np.full((batch, window), 0.05, "float32"),
         "padding_mask": np.zeros((batch, window), "float32"), "hidden_mask": hidden.astype("float32")}
    y = {"magnitudes": magnitudes, "probe_mask": probe, "loss_weight": np.ones((batch, window), "float32")}
    return x, y


def run_reference(args):
    """Runs the PyTorch reference script (`--reference`) with this run's mode,
    batches and steps; returns {batch: its JSON row}.

    In a subprocess, before our model touches the device, so the two never
    hold device memory at the same time.
    """
    import subprocess

    command = [sys.executable, args.reference, "--mode", args.mode, "--steps", str(args.steps),
               "--batch", *map(str, args.batch)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"The reference {args.reference} failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    rows = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[int(row["batch"])] = row
    missing = [b for b in args.batch if b not in rows]
    if missing:
        raise SystemExit(f"The reference {args.reference} printed no result for batch {missing}.")
    return rows


def bench_config(args):
    """The preset with this run's precision, attention and `--set` overrides."""
    from astromer.training import resolve_config

    policy = "mixed_bfloat16" if args.precision == "bf16" else "float32"
    overrides = [f"model.dtype={policy}", f"model.attention_implementation={args.attention}", *args.overrides]
    return resolve_config(args.preset, overrides)


def model_and_windows(config, batch, mode):
    """A freshly seeded pretrainer and `batch` synthetic windows for it (x, y)."""
    import keras

    from astromer.training import build_pretrainer

    keras.utils.set_random_seed(0)
    model = build_pretrainer(config)
    x, y = synthetic_windows(batch, model.backbone.window_size, masked=mode == "train")
    return model, {k: v for k, v in x.items() if k in model.backbone.input_names}, y


def run_model(args):
    import keras

    from astromer.models.embedder import Embedder
    from astromer.training import make_optimizer

    if args.prng and keras.backend.backend() == "jax":
        import jax

        # Dropout masks are random bits every step: JAX's default threefry
        # generator costs more than the matmuls of a small model on a GPU.
        jax.config.update("jax_default_prng_impl", args.prng)
    config = bench_config(args)
    reference = run_reference(args) if args.reference else None
    results = []
    for batch in args.batch:
        model, x, y = model_and_windows(config, batch, args.mode)
        backbone = model.backbone
        if args.mode == "train":
            model.compile(make_optimizer(config["pretraining"]), jit_compile=args.jit)
            x, y = _on_device(x), _on_device(y)
        else:
            model = Embedder(model.backbone, batch_size=batch).pooled_model()
            model.compile(jit_compile=args.jit)
            x, y = _on_device(x), None
        if args.torch_compile_mode:
            model.torch_compile_mode = args.torch_compile_mode
        run = model_steps(model, args.mode, x, y, args.sync)
        run(args.warmup)
        start = time.perf_counter()
        result_on_host = run(args.steps)
        elapsed = time.perf_counter() - start
        rate = args.steps * batch / elapsed
        flops = model_flops(backbone, args.mode)
        peak = _device_memory_peak()
        result = {
            "bench": "model", "impl": f"astromer-keras-{keras.backend.backend()}", "preset": args.preset,
            "mode": args.mode, "precision": args.precision, "batch": batch, "attention": args.attention,
            "windows_per_s": round(rate), "tflops": round(rate * flops / 1e12, 2),
            "gflop_per_window": round(flops / 1e9, 3), "peak_memory_gb": round(peak / 2**30, 2) if peak else None,
            "steps": args.steps, "sync": args.sync, "overrides": args.overrides, "prng": args.prng,
            "jit": args.jit, "torch_compile_mode": args.torch_compile_mode,
            **_environment(),
        }
        if args.mode == "train":
            result["final_loss"] = result_on_host
        step_function = model.train_function if args.mode == "train" else model.predict_function
        if hasattr(getattr(step_function, "__self__", None), "traces"):
            # PyTorch graph steps: more than one trace would mean a timed step compiled.
            result["graph_traces"] = step_function.__self__.traces
        if reference:
            theirs = reference[batch]
            result["reference"] = {"impl": theirs.get("impl"), "windows_per_s": theirs["windows_per_s"]}
            result["ratio_to_reference"] = round(rate / theirs["windows_per_s"], 3)
        if args.profile:
            result["profile"] = profile_steps(run, args, batch)
        print(json.dumps(result), flush=True)
        results.append(result)
        del model, backbone, run
        keras.backend.clear_session()
    return results


def model_steps(model, mode, x, y, sync):
    """`run(n)`: n training (`train`) or embedding steps of a compiled model
    on device-resident batches; returns the last result on the host (the
    loss as a float, or the pooled embeddings' shape).

    `sync="step"` brings every step's result to the host before the next
    starts, as a loop that logs each step would; `sync="end"` (JAX) queues
    the steps back to back and waits for the last one only, as the PyTorch
    reference times itself (one `torch.cuda.synchronize()` after all
    steps): the device then never waits for Python between steps. Each
    training step takes the previous step's weights, so the last loss
    cannot arrive before every step has run.
    """
    import keras

    if sync == "end":
        if keras.backend.backend() == "torch":
            return _queued_torch_steps(model, mode, x, y)
        return _queued_jax_steps(model, mode, x, y)
    if mode == "train":
        def step():
            return float(model.train_on_batch(x, y, return_dict=True)["loss"])
    else:
        def step():
            return np.asarray(model.predict_on_batch(x)).shape

    def run(n):
        result = None
        for _ in range(n):
            result = step()
        return result

    return run


def _queued_torch_steps(model, mode, x, y):
    # Keras' step functions (with `jit_compile`, one compiled graph each,
    # astromer.torch_graph) run asynchronously on a GPU until a result is
    # read: only the last step's is. The first step goes through Keras'
    # `*_on_batch`, which builds the optimizer, metrics and step function.
    step = None

    def run(n):
        nonlocal step
        result = None
        for _ in range(n):
            if step is None:
                if mode == "train":
                    result = {"loss": model.train_on_batch(x, y, return_dict=True)["loss"]}
                    step = model.make_train_function()
                else:
                    result = model.predict_on_batch(x)
                    step = model.make_predict_function()
            elif mode == "train":
                model.reset_metrics()  # the last batch's loss, as `train_on_batch` reports
                result = step([(x, y, None)])  # the batch as `train_on_batch` passes it: the same graph
            else:
                result = step([(x,)])
        if result is None:
            return None
        return float(result["loss"]) if mode == "train" else tuple(np.asarray(result).shape)

    return run


def _queued_jax_steps(model, mode, x, y):
    import jax

    from astromer.models.graph_steps import step_state_variables

    if mode == "train":
        # What `fit` jits on JAX: Keras' stateless train step; the state
        # (weights, optimizer slots, metrics) goes from step to step. The
        # first step goes through `train_on_batch`, which builds the
        # optimizer and the compiled metrics.
        train_step = jax.jit(model.train_step)
        state = zero_metrics = None

        def run(n):
            nonlocal state, zero_metrics
            if n == 0:
                return None
            if state is None:
                loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
                # Metrics start from zero every step (as in `train_on_batch`),
                # so the loss returned is the last batch's, not a running mean.
                model.reset_metrics()
                state = [[v.value for v in group] for group in step_state_variables(model)]
                zero_metrics = state[3]
                if n == 1:
                    return loss
                n -= 1
            for _ in range(n):
                logs, state = train_step([*state[:3], zero_metrics], (x, y, None))
            for group, values in zip(step_state_variables(model), state):
                for variable, value in zip(group, values):
                    variable.assign(value)
            return float(logs["loss"])

        return run

    weights = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
    embed = jax.jit(lambda trainable, other, inputs: model.stateless_call(trainable, other, inputs)[0])

    def run(n):
        outputs = None
        for _ in range(n):
            outputs = embed(*weights, x)
        return np.asarray(outputs).shape if outputs is not None else None

    return run


def profile_steps(run, args, batch):
    """Traces `--profile-steps` more steps (JAX profiler) into
    `--profile/<mode>-b<batch>` and returns the kernel breakdown per step."""
    import jax

    from astromer.profiling import summarize_kernels, trace_kernel_events

    trace_dir = os.path.join(args.profile, f"{args.preset}-{args.mode}-{args.precision}-b{batch}")
    with jax.profiler.trace(trace_dir):
        start = time.perf_counter()
        run(args.profile_steps)
        wall = time.perf_counter() - start
    events, source = trace_kernel_events(trace_dir)
    summary = {"source": source, **summarize_kernels(events, args.profile_steps)}
    summary["wall_ms_per_step"] = round(wall / args.profile_steps * 1e3, 3)
    # Below 1: the device waits for the host (dispatch, transfers) part of the step.
    summary["device_busy"] = round(min(1.0, summary["device_ms_per_step"] / summary["wall_ms_per_step"]), 3)
    summary["trace"] = trace_dir
    with open(os.path.join(trace_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def gpu_compile_only_device(target_config):
    """A compile-only GPU device described by `target_config` (no GPU needed:
    JAX's deviceless compilation, through its CUDA plugin)."""
    try:
        from jax.experimental import topologies

        topology = topologies.get_topology_desc("astromer", "cuda", target_config=target_config, topology="1x1x1")
    except Exception as error:
        raise SystemExit(
            "astromer-bench hlo compiles for a GPU without one, through JAX's CUDA plugin: "
            f"install it with `pip install 'jax[cuda12]'` (no GPU or driver needed). ({error})"
        )
    return topology.devices[0]


def trace_for_gpu(function, args, device):
    """Traces `function(*args)` for `device` as it would be traced on that GPU.

    Layers that choose cuDNN attention ask JAX which devices it has (and
    JAX's cuDNN check asks the GPU's compute capability): here the answer
    is the compile-only device, for the duration of the trace only.
    """
    import jax
    from jax._src.cudnn import fused_attention_stablehlo as cudnn_attention
    from jax.sharding import SingleDeviceSharding

    sharding = SingleDeviceSharding(device)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding), args)
    devices, capability = jax.devices, cudnn_attention.check_compute_capability
    jax.devices = lambda *_, **__: [device]
    cudnn_attention.check_compute_capability = lambda *_, **__: True
    try:
        traced = jax.jit(function).trace(*abstract)
    finally:
        jax.devices, cudnn_attention.check_compute_capability = devices, capability
    try:
        return traced.lower(lowering_platforms=("cuda",)).compile()
    except jax.errors.JaxRuntimeError as error:
        # Without a GPU, XLA cannot autotune: some Triton GEMM shapes then
        # find no tiling (seen for AstroCo-S's 828-wide projection).
        first_line = str(error).splitlines()[0][:400]
        raise SystemExit(
            f"XLA could not compile this step for the GPU without one: {first_line}\n"
            "Matmuls that Triton cannot tile without autotuning compile on cuBLAS: "
            "set XLA_FLAGS=--xla_gpu_enable_triton_gemm=false."
        )


def run_hlo(args):
    """`astromer-bench hlo`: roofline estimate of one step compiled for an H100."""
    from astromer import roofline
    from astromer.models.embedder import Embedder
    from astromer.models.graph_steps import step_state_variables
    from astromer.training import make_optimizer

    device = gpu_compile_only_device(roofline.H100_TARGET)
    config = bench_config(args)
    model, x, y = model_and_windows(config, args.batch, args.mode)
    if args.mode == "train":
        model.compile(make_optimizer(config["pretraining"]), jit_compile=True)
        # One step on two windows (on the CPU) builds the optimizer and metrics.
        model.train_on_batch({k: v[:2] for k, v in x.items()}, {k: v[:2] for k, v in y.items()})
        state = [[np.asarray(v.value) for v in group] for group in step_state_variables(model)]
        compiled = trace_for_gpu(model.train_step, (state, (x, y, None)), device)
    else:
        pooled = Embedder(model.backbone, batch_size=args.batch).pooled_model()
        weights = ([np.asarray(v.value) for v in pooled.trainable_variables],
                   [np.asarray(v.value) for v in pooled.non_trainable_variables])
        compiled = trace_for_gpu(
            lambda trainable, other, inputs: pooled.stateless_call(trainable, other, inputs)[0],
            (*weights, x), device,
        )
    text = compiled.as_text()
    if args.dump:
        with open(args.dump, "w") as f:
            f.write(text)
    result = {
        "bench": "hlo", "target": "H100 SXM (compiled without one)", "preset": args.preset, "mode": args.mode,
        "precision": args.precision, "batch": args.batch, "attention": args.attention,
        "overrides": args.overrides, "xla_flags": os.environ.get("XLA_FLAGS", ""),
        **roofline.summarize(roofline.kernels(text), top=args.top),
    }
    print(json.dumps(result), flush=True)
    return result


def run_embed(args):
    import resource

    from astromer.data.demo import simulate_table
    from astromer.models.embedder import Embedder

    with tempfile.TemporaryDirectory() as workdir:
        source = args.data
        if source is None:
            source = os.path.join(workdir, "catalogue.parquet")
            simulate_table(source, args.light_curves, seed=0)
        if args.weights:
            embedder = Embedder.from_weights(args.weights, preset=args.preset, batch_size=args.batch)
        else:
            embedder = Embedder.from_preset(args.preset, batch_size=args.batch)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        count = embedder.write_parquet(source, os.path.join(workdir, "embeddings.parquet"), progress=args.progress)
        elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "bench": "embed",
        "preset": args.preset,
        "light_curves": count,
        "light_curves_per_s": round(count / elapsed, 1),
        "seconds": round(elapsed, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_rss_before_embedding_mb": round(rss_before, 1),
        "batch": args.batch,
        "source": args.data or f"simulated:{args.light_curves}",
        **_environment(),
    }
    print(json.dumps(result), flush=True)
    return result


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
                       help="PyTorch: torch.compile mode of the step graphs (astromer.torch_graph)")
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
    args = parser.parse_args(argv)
    if args.what == "data":
        run_data(args)
        return
    if args.what == "embed":
        run_embed(args)
        return
    import keras

    from astromer.training import ConfigError

    backend = keras.backend.backend()
    if args.what == "hlo":
        if backend != "jax":
            parser.error(f"hlo needs KERAS_BACKEND=jax (this is {backend}).")
        import jax

        # The step is traced on the CPU and compiled for the GPU target: no
        # GPU is looked for (JAX would otherwise start its CUDA plugin, which
        # fails without a driver). Before any device is touched.
        if not os.environ.get("JAX_PLATFORMS"):
            jax.config.update("jax_platforms", "cpu")
    else:
        if args.profile and backend != "jax":
            parser.error(f"--profile needs KERAS_BACKEND=jax (this is {backend}).")
        if args.sync == "end" and backend not in ("jax", "torch"):
            parser.error(f"--sync end needs KERAS_BACKEND=jax or torch (this is {backend}); use --sync step.")
        if args.profile and args.profile_steps < 1:
            parser.error(f"--profile-steps must be at least 1, got {args.profile_steps}.")
    try:
        (run_hlo if args.what == "hlo" else run_model)(args)
    except ConfigError as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
