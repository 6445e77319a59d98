"""`astromer-bench model`: training or embedding windows/s of the model alone
on synthetic windows already on the device (`astromer.bench.workload`),
with TFLOP/s, peak device memory, and optionally the PyTorch reference's
windows/s (`reference`) and a kernel breakdown (`profiling`).
"""

import os
import time

from astromer.bench.environment import device_memory_peak, emit, environment
from astromer.bench.profiling import trace_steps
from astromer.bench.reference import run_reference
from astromer.bench.steps import model_steps, on_device
from astromer.bench.workload import bench_config, model_and_windows, model_flops


def run_model(settings):
    """One row per batch size of the `ModelBench` `settings`, printed as it
    is measured; returns the rows. Raises `ConfigError` for an unknown
    preset or setting or an option the backend cannot run, `BenchError`
    when the reference fails."""
    import keras

    s = settings
    s.check(keras.backend.backend())
    if s.prng and keras.backend.backend() == "jax":
        import jax

        # Dropout masks are random bits every step: JAX's default threefry
        # generator costs more than the matmuls of a small model on a GPU.
        jax.config.update("jax_default_prng_impl", s.prng)
    config = bench_config(s.preset, s.precision, s.attention, s.overrides)
    theirs_by_batch = run_reference(s.reference, s.mode, s.steps, s.batches) if s.reference else None
    results = []
    for batch in s.batches:
        model, backbone, x, y = model_and_windows(config, batch, s.mode, s.jit)
        x, y = on_device(x), None if y is None else on_device(y)
        if s.torch_compile_mode:
            model.torch_compile_mode = s.torch_compile_mode
        run = model_steps(model, s.mode, x, y, s.sync)
        run(s.warmup)
        start = time.perf_counter()
        result_on_host = run(s.steps)
        elapsed = time.perf_counter() - start
        rate = s.steps * batch / elapsed
        flops = model_flops(backbone, s.mode)
        peak = device_memory_peak()
        result = {
            "bench": "model", "impl": f"astromer-keras-{keras.backend.backend()}", "preset": s.preset,
            "mode": s.mode, "precision": s.precision, "batch": batch, "attention": s.attention,
            "windows_per_s": round(rate), "tflops": round(rate * flops / 1e12, 2),
            "gflop_per_window": round(flops / 1e9, 3), "peak_memory_gb": round(peak / 2**30, 2) if peak else None,
            "steps": s.steps, "sync": s.sync, "overrides": list(s.overrides), "prng": s.prng,
            "jit": s.jit, "torch_compile_mode": s.torch_compile_mode,
            **environment(),
        }
        if s.mode == "train":
            result["final_loss"] = result_on_host
        step_function = model.train_function if s.mode == "train" else model.predict_function
        if hasattr(getattr(step_function, "__self__", None), "traces"):
            # PyTorch graph steps: more than one trace would mean a timed step compiled.
            result["graph_traces"] = step_function.__self__.traces
        if theirs_by_batch:
            theirs = theirs_by_batch[batch]
            result["reference"] = {"impl": theirs.get("impl"), "windows_per_s": theirs["windows_per_s"]}
            result["ratio_to_reference"] = round(rate / theirs["windows_per_s"], 3)
        if s.profile:
            trace_dir = os.path.join(s.profile, f"{s.preset}-{s.mode}-{s.precision}-b{batch}")
            result["profile"] = trace_steps(run, s.profile_steps, trace_dir)
        results.append(emit(result))
        del model, backbone, run
        keras.backend.clear_session()
    return results
