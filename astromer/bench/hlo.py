"""`astromer-bench hlo`: one step compiled for an H100 without one.

JAX's deviceless compilation (through its CUDA plugin, no GPU or driver)
compiles a training or embedding step for a described GPU; the roofline
estimate of the optimized program (`astromer.bench.roofline`) then says
where the time would go. An estimate to compare configurations with, not
a measurement.
"""

import os

import numpy as np

from astromer.bench import roofline
from astromer.bench.environment import emit
from astromer.bench.steps import stateless_embedding, step_state
from astromer.bench.workload import bench_config, model_and_windows
from astromer.errors import BenchError, ConfigError


def gpu_compile_only_device(target_config):
    """A compile-only GPU device described by `target_config` (no GPU needed:
    JAX's deviceless compilation, through its CUDA plugin)."""
    try:
        from jax.experimental import topologies

        topology = topologies.get_topology_desc("astromer", "cuda", target_config=target_config, topology="1x1x1")
    except Exception as error:
        raise BenchError(
            "astromer-bench hlo compiles for a GPU without one, through JAX's CUDA plugin: "
            f"install it with `pip install 'jax[cuda12]'` (no GPU or driver needed). ({error})"
        ) from error
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
        raise BenchError(
            f"XLA could not compile this step for the GPU without one: {first_line}\n"
            "Matmuls that Triton cannot tile without autotuning compile on cuBLAS: "
            "set XLA_FLAGS=--xla_gpu_enable_triton_gemm=false."
        ) from error


def run_hlo(settings):
    """Roofline estimate of one step compiled for an H100 (KERAS_BACKEND=jax)
    as the `HloBench` `settings` describe: prints and returns one row.
    Raises `ConfigError` for another backend or an unknown preset or
    setting, `BenchError` without JAX's CUDA plugin or when XLA cannot
    compile the step."""
    import keras

    if keras.backend.backend() != "jax":
        raise ConfigError(f"hlo needs KERAS_BACKEND=jax (this is {keras.backend.backend()}).")
    import jax

    # The step is traced on the CPU and compiled for the GPU target: no
    # GPU is looked for (JAX would otherwise start its CUDA plugin, which
    # fails without a driver). Before any device is touched.
    if not os.environ.get("JAX_PLATFORMS"):
        jax.config.update("jax_platforms", "cpu")

    s = settings
    device = gpu_compile_only_device(roofline.H100_TARGET)
    config = bench_config(s.preset, s.precision, s.attention, s.overrides)
    model, _, x, y = model_and_windows(config, s.batch, s.mode)
    if s.mode == "train":
        # One step on two windows (on the CPU) builds the optimizer and metrics.
        model.train_on_batch({k: v[:2] for k, v in x.items()}, {k: v[:2] for k, v in y.items()})
        state = jax.tree.map(np.asarray, step_state(model))
        compiled = trace_for_gpu(model.train_step, (state, (x, y, None)), device)
    else:
        embed, weights = stateless_embedding(model)
        compiled = trace_for_gpu(embed, (*jax.tree.map(np.asarray, weights), x), device)
    text = compiled.as_text()
    if s.dump:
        with open(s.dump, "w") as f:
            f.write(text)
    return emit({
        "bench": "hlo", "target": "H100 SXM (compiled without one)", "preset": s.preset, "mode": s.mode,
        "precision": s.precision, "batch": s.batch, "attention": s.attention,
        "overrides": list(s.overrides), "xla_flags": os.environ.get("XLA_FLAGS", ""),
        **roofline.summarize(roofline.kernels(text), top=s.top),
    })
