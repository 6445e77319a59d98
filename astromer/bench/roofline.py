"""Where a GPU step's time would go, read off XLA's compiled program.

`astromer-bench hlo` compiles a step for a GPU that is not there; this
module reads the optimized HLO back: one row per kernel the step launches,
with the bytes it moves, its matmul FLOPs, the Keras layer that produced it
(XLA's op metadata) and a roofline time `max(bytes / bandwidth, flops /
matmul rate)`. An estimate to compare configurations with, not a
measurement: launch gaps, cache reuse and cuDNN attention's distance from
its roofline are not in it (docs/performance.md).
"""

import collections
import math
import re

_BYTES = {
    "pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s16": 2, "u16": 2,
    "f32": 4, "s32": 4, "u32": 4, "f64": 8, "s64": 8, "u64": 8,
}
_ARRAY = re.compile(r"\b(" + "|".join(_BYTES) + r")\[([0-9,]*)\]")
_HEADER = re.compile(r"^(ENTRY )?%?([\w.\-]+) \(.*\) -> .* \{$")
_INSTRUCTION = re.compile(r"^(?:ROOT )?%([\w.\-]+) = (.*?) ([a-z][\w\-]*)\((.*?)\)(.*)$")
# Instructions that launch nothing: they name or regroup buffers.
_FREE = {"parameter", "get-tuple-element", "bitcast", "tuple", "constant", "after-all", "opt-barrier"}

# What XLA's GPU compiler needs to know of an H100 SXM 80GB to compile for
# it without one (a GpuTargetConfigProto; NVIDIA's published figures).
H100_TARGET = """
gpu_device_info {
  threads_per_block_limit: 1024 threads_per_warp: 32
  shared_memory_per_block: 49152 shared_memory_per_core: 233472 shared_memory_per_block_optin: 232448
  threads_per_core_limit: 2048 core_count: 132 fpus_per_core: 128
  block_dim_limit_x: 2147483647 block_dim_limit_y: 65535 block_dim_limit_z: 65535
  memory_bandwidth: 3352320000000 l2_cache_size: 52428800 clock_rate_ghz: 1.98
  device_memory_size: 84942979072
  cuda_compute_capability { major: 9 minor: 0 }
  registers_per_core_limit: 65536 registers_per_block_limit: 65536
}
platform_name: "CUDA"
dnn_version_info { major: 9 minor: 10 patch: 0 }
device_description_str: "NVIDIA H100 80GB HBM3"
"""

# Achievable rates of one H100 SXM (about 85% of the 3.35 TB/s HBM3
# bandwidth, 60% of the 990 TFLOP/s dense bf16 tensor-core peak).
H100 = {"bandwidth": 3.35e12 * 0.85, "matmul_flops": 990e12 * 0.6}


def array_bytes(shape):
    """Bytes of every array in an HLO shape text, tuples included.

    >>> array_bytes("(bf16[2,3]{1,0}, f32[4]{0})")
    28
    """
    total = 0
    for dtype, dims in _ARRAY.findall(shape):
        total += math.prod(int(d) for d in dims.split(",") if d) * _BYTES[dtype]
    return total


def _dims(shape):
    match = _ARRAY.search(shape)
    return [int(d) for d in match.group(2).split(",") if d] if match else []


def computations(hlo_text):
    """`{computation name: [(name, shape, op, operands, attributes), ...]}`,
    one tuple per instruction, and the entry computation's name."""
    found, current, entry = {}, None, None
    for line in hlo_text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = header.group(2)
            found[current] = []
            if header.group(1):
                entry = current
        elif line.startswith("}"):
            current = None
        elif current is not None:
            instruction = _INSTRUCTION.match(line.strip())
            if instruction:
                found[current].append(instruction.groups())
    if entry is None:
        raise ValueError("No ENTRY computation in this HLO text (is it an optimized module's as_text()?).")
    return found, entry


def _operands(operands):
    return re.findall(r"%([\w.\-]+)", operands)


def _gemm_flops(out_shape, lhs_shape, contracting):
    """2 * output elements * contracted size; `contracting`: the lhs
    contracting dimensions as text ("1" or "1,2")."""
    lhs_dims = _dims(lhs_shape)
    if not lhs_dims:
        return 0
    size = math.prod(lhs_dims[int(i)] for i in contracting.split(",") if i)
    return 2 * math.prod(_dims(out_shape)) * size


def _dot_flops(instructions, shapes):
    """FLOPs of the dot instructions among `instructions`."""
    flops = 0
    for _, out, op, operands, attributes in instructions:
        contracting = re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", attributes)
        if op == "dot" and contracting:
            flops += _gemm_flops(out, shapes.get(_operands(operands)[0], ""), contracting.group(1))
    return flops


def kernels(hlo_text, rates=H100):
    """One dict per kernel launched by the entry computation, in order.

    Keys: `name`, `kind` (e.g. `fusion:kLoop`, `custom:__cublas$lt$matmul`,
    `copy`), `bytes` (operands read + results written), `flops` (matmuls
    only), `ms` (roofline time), `layer` (XLA's op_name metadata, "" when
    absent) and `attention` (a cuDNN attention call: its `ms` is a lower
    bound).
    """
    found, entry = computations(hlo_text)
    shapes = {instruction[0]: instruction[1] for body in found.values() for instruction in body}
    rows = []
    for instruction in found[entry]:
        name, out, op, operands, attributes = instruction
        if op in _FREE:
            continue
        operand_names = _operands(operands)
        moved = array_bytes(out) + sum(array_bytes(shapes.get(o, "")) for o in operand_names)
        kind, flops = op, 0
        if op == "fusion":
            fusion_kind = re.search(r"kind=(k\w+)", attributes)
            backend_kind = re.search(r'"kind":"(\w+)"', attributes)
            kind = "fusion:" + (fusion_kind.group(1) if fusion_kind else "?")
            if backend_kind:
                kind += ":" + backend_kind.group(1)
            called = re.search(r"calls=%([\w.\-]+)", attributes)
            flops = _dot_flops(found.get(called.group(1), []) if called else [], shapes)
        elif op == "custom-call":
            target = re.search(r'custom_call_target="([^"]*)"', attributes)
            kind = "custom:" + (target.group(1) if target else "?")
            contracting = re.search(r'"lhs_contracting_dimensions":\[([^\]]*)\]', attributes)
            if ("gemm" in kind or "matmul" in kind) and contracting:
                flops = _gemm_flops(out, shapes.get(operand_names[0], ""), contracting.group(1).replace('"', ""))
        elif op == "dot":
            flops = _dot_flops([instruction], shapes)
        layer = re.search(r'op_name="([^"]*)"', attributes)
        rows.append({
            "name": name, "kind": kind, "bytes": moved, "flops": flops,
            "ms": 1e3 * max(moved / rates["bandwidth"], flops / rates["matmul_flops"]),
            "layer": layer.group(1) if layer else "",
            "attention": "fmha" in kind or "flash" in kind,
        })
    return rows


def layer_of(op_name):
    """A Keras layer path from XLA's op_name, blocks merged, backward marked.

    >>> layer_of("jit(train_step)/transpose(jvp(backbone))/block_3/ffn_norm/reduce_sum")
    'backward backbone/block_N/ffn_norm'
    """
    backward = "transpose(" in op_name
    path = re.sub(r"jit\([^)]*\)/?", "", op_name)
    path = re.sub(r"(transpose|jvp)\(", "", path).replace(")", "")
    path = re.sub(r"block_\d+", "block_N", path)
    parts = [p for p in path.split("/") if p]
    # The last part is the primitive (add, reduce_sum, dot_general, ...).
    layer = "/".join(parts[:-1]) if len(parts) > 1 else (parts[0] if parts else "?")
    return ("backward " if backward else "") + layer


def summarize(rows, top=12):
    """Totals, time by kernel kind and by layer (largest first)."""
    total_ms = sum(r["ms"] for r in rows)

    def grouped(key):
        groups = collections.defaultdict(lambda: {"kernels": 0, "ms": 0.0, "gb": 0.0})
        for r in rows:
            group = groups[key(r)]
            group["kernels"] += 1
            group["ms"] += r["ms"]
            group["gb"] += r["bytes"] / 1e9
        ordered = sorted(groups.items(), key=lambda item: -item[1]["ms"])
        return {
            k: {"kernels": v["kernels"], "ms": round(v["ms"], 3), "gb": round(v["gb"], 3),
                "share": round(v["ms"] / total_ms, 4) if total_ms else 0.0}
            for k, v in ordered[:top]
        }

    return {
        "kernels": len(rows),
        "estimated_ms": round(total_ms, 3),
        "gb_moved": round(sum(r["bytes"] for r in rows) / 1e9, 3),
        "matmul_gflop": round(sum(r["flops"] for r in rows) / 1e9, 3),
        "attention_ms_lower_bound": round(sum(r["ms"] for r in rows if r["attention"]), 3),
        "kinds": grouped(lambda r: r["kind"]),
        "layers": grouped(lambda r: layer_of(r["layer"])),
    }
