"""`astromer-bench model`: training or embedding windows/s of the model alone.

Synthetic windows already on the device (`astromer.bench.workload`),
warm-up steps, then timed steps (`astromer.bench.steps`). Each row has
windows/s, achieved TFLOP/s from the model's FLOP count, and peak device
memory; optionally the PyTorch reference's windows/s side by side
(`astromer.bench.reference`) and a kernel breakdown of a few more steps
(`astromer.bench.profiling`).
"""

import os
import time

from astromer.bench.environment import device_memory_peak, emit, environment
from astromer.bench.profiling import trace_steps
from astromer.bench.reference import run_reference
from astromer.bench.steps import model_steps, on_device
from astromer.bench.workload import bench_config, model_and_windows, model_flops


def run_model(*, preset="a2", batches=(1024, 2500), precision="bf16", mode="train", attention="auto", steps=30,
              warmup=3, sync="step", jit=True, torch_compile_mode=None, prng=None, reference=None, profile=None,
              profile_steps=5, overrides=()):
    """One row per batch size, printed as it is measured; returns the rows.

    `reference`: a script run first with the same mode, batches and steps;
    `profile`: a folder for JAX traces of `profile_steps` more steps.
    Raises `ConfigError` for an unknown preset or setting, `BenchError` when
    the reference fails.
    """
    import keras

    from astromer.embedding import Embedder
    from astromer.training import make_optimizer

    if prng and keras.backend.backend() == "jax":
        import jax

        # Dropout masks are random bits every step: JAX's default threefry
        # generator costs more than the matmuls of a small model on a GPU.
        jax.config.update("jax_default_prng_impl", prng)
    config = bench_config(preset, precision, attention, overrides)
    theirs_by_batch = run_reference(reference, mode, steps, batches) if reference else None
    results = []
    for batch in batches:
        model, x, y = model_and_windows(config, batch, mode)
        backbone = model.backbone
        if mode == "train":
            model.compile(make_optimizer(config["pretraining"]), jit_compile=jit)
            x, y = on_device(x), on_device(y)
        else:
            model = Embedder(model.backbone, batch_size=batch).pooled_model()
            model.compile(jit_compile=jit)
            x, y = on_device(x), None
        if torch_compile_mode:
            model.torch_compile_mode = torch_compile_mode
        run = model_steps(model, mode, x, y, sync)
        run(warmup)
        start = time.perf_counter()
        result_on_host = run(steps)
        elapsed = time.perf_counter() - start
        rate = steps * batch / elapsed
        flops = model_flops(backbone, mode)
        peak = device_memory_peak()
        result = {
            "bench": "model", "impl": f"astromer-keras-{keras.backend.backend()}", "preset": preset,
            "mode": mode, "precision": precision, "batch": batch, "attention": attention,
            "windows_per_s": round(rate), "tflops": round(rate * flops / 1e12, 2),
            "gflop_per_window": round(flops / 1e9, 3), "peak_memory_gb": round(peak / 2**30, 2) if peak else None,
            "steps": steps, "sync": sync, "overrides": overrides, "prng": prng,
            "jit": jit, "torch_compile_mode": torch_compile_mode,
            **environment(),
        }
        if mode == "train":
            result["final_loss"] = result_on_host
        step_function = model.train_function if mode == "train" else model.predict_function
        if hasattr(getattr(step_function, "__self__", None), "traces"):
            # PyTorch graph steps: more than one trace would mean a timed step compiled.
            result["graph_traces"] = step_function.__self__.traces
        if theirs_by_batch:
            theirs = theirs_by_batch[batch]
            result["reference"] = {"impl": theirs.get("impl"), "windows_per_s": theirs["windows_per_s"]}
            result["ratio_to_reference"] = round(rate / theirs["windows_per_s"], 3)
        if profile:
            trace_dir = os.path.join(profile, f"{preset}-{mode}-{precision}-b{batch}")
            result["profile"] = trace_steps(run, profile_steps, trace_dir)
        results.append(emit(result))
        del model, backbone, run
        keras.backend.clear_session()
    return results
