"""Where the time of a training or embedding step goes: a kernel breakdown
of a JAX profiler trace (`astromer-bench model --profile DIR`), by kernel
name and by kind (matmul, attention, fusions, copies, ...), per step. The
trace in DIR also opens in TensorBoard / XProf.
"""

import collections
import glob
import json
import os
import time

# First match wins: cuDNN attention kernels also contain "gemm"-like words.
KERNEL_KINDS = (
    # XLA:CPU hands whole fused regions (matmuls with their epilogues) to
    # XNNPACK/YNNPACK: not separable into the kinds below.
    ("cpu library fusion", ("ynn_", "xnn_")),
    ("attention", ("sdpa", "fmha", "flash", "attention", "cudnn")),
    ("matmul", ("gemm", "nvjet", "xmma", "cutlass", "cublas", "matmul", "dot")),
    ("copy", ("memcpy", "memset", "copy", "transpose")),
    ("sort/gather", ("sort", "gather", "scatter")),
    ("reduction", ("reduce", "reduction")),
    ("elementwise", ("fusion", "loop", "elementwise", "convert")),
)
# Bookkeeping events on XLA's CPU threads, not work.
# ThunkExecutor::Execute encloses the thunks themselves: counting it too
# would count their time twice.
_CPU_NOISE = ("ThreadpoolListener", "end: ", "Await", "wait for completion", "ThunkExecutor")


def kernel_kind(name):
    """The kind of a kernel from its name ("other" when nothing matches)."""
    lowered = name.lower()
    for kind, words in KERNEL_KINDS:
        if any(word in lowered for word in words):
            return kind
    return "other"


def summarize_kernels(events, steps, top=15):
    """Per-step breakdown of `(name, duration_ns)` kernel events.

    Args:
        events: iterable of `(kernel name, duration in ns)`, one per launch.
        steps: number of steps the events cover.
        top: how many kernels to list by time.

    Returns a dict: `device_ms_per_step`, `kinds` (kind -> ms per step and
    share of the total, largest first) and `top_kernels` (name, kind, ms
    per step, share, launches per step).
    """
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps!r}.")
    time_by_name = collections.Counter()
    calls_by_name = collections.Counter()
    for name, duration in events:
        time_by_name[name] += float(duration)
        calls_by_name[name] += 1
    total = sum(time_by_name.values())
    if total <= 0:
        raise ValueError("The trace has no kernel time: nothing ran while profiling.")
    by_kind = collections.Counter()
    for name, duration in time_by_name.items():
        by_kind[kernel_kind(name)] += duration

    def ms(ns):
        return round(ns / steps / 1e6, 4)

    return {
        "device_ms_per_step": ms(total),
        "kinds": {
            kind: {"ms_per_step": ms(d), "share": round(d / total, 4)} for kind, d in by_kind.most_common()
        },
        "top_kernels": [
            {
                "name": name[:160],
                "kind": kernel_kind(name),
                "ms_per_step": ms(d),
                "share": round(d / total, 4),
                "launches_per_step": round(calls_by_name[name] / steps, 2),
            }
            for name, d in time_by_name.most_common(top)
        ],
    }


def trace_kernel_events(trace_dir):
    """The kernels in the newest JAX trace under `trace_dir`.

    Returns `(events, source)`: `(name, duration_ns)` per launch, and where
    they come from: "device streams" (the kernels on the GPU's streams) or,
    in CPU-only traces, "cpu threads" (work on XLA's CPU client threads,
    summed over threads: coarser, fused regions rather than kernels).
    """
    from jax.profiler import ProfileData

    paths = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise FileNotFoundError(f"No profiler trace (*.xplane.pb) under {trace_dir}.")
    data = ProfileData.from_file(max(paths, key=os.path.getmtime))
    planes = list(data.planes)
    devices = [p for p in planes if p.name.startswith("/device:")]
    events = []
    if devices:
        for plane in devices:
            lines = list(plane.lines)
            streams = [line for line in lines if "stream" in line.name.lower()]
            for line in streams or [
                line for line in lines if line.name not in ("XLA Modules", "XLA Ops", "Steps", "Launch Stats")
            ]:
                events += [(e.name, e.duration_ns) for e in line.events if e.duration_ns > 0]
        return events, "device streams"
    for plane in planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_XLA"):
                continue
            events += [
                (e.name, e.duration_ns)
                for e in line.events
                if e.duration_ns > 0 and not any(noise in e.name for noise in _CPU_NOISE)
            ]
    return events, "cpu threads"


def trace_steps(run, steps, trace_dir):
    """Traces `run(steps)` (JAX profiler) into `trace_dir` and returns the
    kernel breakdown per step, with the wall time per step and how busy the
    device was; the breakdown is also written to `trace_dir/summary.json`."""
    import jax

    with jax.profiler.trace(trace_dir):
        start = time.perf_counter()
        run(steps)
        wall = time.perf_counter() - start
    events, source = trace_kernel_events(trace_dir)
    summary = {"source": source, **summarize_kernels(events, steps)}
    summary["wall_ms_per_step"] = round(wall / steps * 1e3, 3)
    # Below 1: the device waits for the host (dispatch, transfers) part of the step.
    summary["device_busy"] = round(min(1.0, summary["device_ms_per_step"] / summary["wall_ms_per_step"]), 3)
    summary["trace"] = trace_dir
    with open(os.path.join(trace_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary
