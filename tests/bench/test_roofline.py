import importlib.util
import json

import pytest

from astromer.bench import roofline
from tests.harness import ROOT, run_process

# A small optimized module in XLA's text format: a Triton GEMM fusion, the
# same GEMM as a cuBLAS call, and a bias-add loop fusion.
HLO = """HloModule jit_step, entry_computation_layout={(bf16[8,16]{1,0})->bf16[8,4]{1,0}}

%fused_add (p0: bf16[8,4], p1: bf16[4]) -> bf16[8,4] {
  %p0 = bf16[8,4]{1,0} parameter(0)
  %p1 = bf16[4]{0} parameter(1)
  %b = bf16[8,4]{1,0} broadcast(%p1), dimensions={1}
  ROOT %add = bf16[8,4]{1,0} add(%p0, %b)
}

%gemm_fusion (q0: bf16[8,16], q1: bf16[16,4]) -> bf16[8,4] {
  %q0 = bf16[8,16]{1,0} parameter(0)
  %q1 = bf16[16,4]{1,0} parameter(1)
  ROOT %d = bf16[8,4]{1,0} dot(%q0, %q1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

ENTRY %main (x: bf16[8,16], w: bf16[16,4], bias: bf16[4]) -> bf16[8,4] {
  %x = bf16[8,16]{1,0} parameter(0)
  %w = bf16[16,4]{1,0} parameter(1)
  %bias = bf16[4]{0} parameter(2)
  %g = bf16[8,4]{1,0} fusion(%x, %w), kind=kCustom, calls=%gemm_fusion, metadata={op_name="jit(step)/transpose(jvp(backbone))/block_1/attention/query/dot_general"}, backend_config={"fusion_backend_config":{"kind":"__triton_nested_gemm_fusion"}}
  %c = bf16[8,4]{1,0} custom-call(%x, %w), custom_call_target="__cublas$lt$matmul", backend_config={"gemm_backend_config":{"dot_dimension_numbers":{"lhs_contracting_dimensions":["1"],"rhs_contracting_dimensions":["0"]}}}
  %t = (bf16[8,4]{1,0}, f32[8]{0}) custom-call(%g, %g, %g), custom_call_target="__cudnn$fmhaSoftmax"
  %o = bf16[8,4]{1,0} get-tuple-element(%t), index=0
  ROOT %a = bf16[8,4]{1,0} fusion(%o, %bias), kind=kLoop, calls=%fused_add, metadata={op_name="jit(step)/backbone/block_0/ffn_norm/add"}
}
"""
RATES = {"bandwidth": 1000.0, "matmul_flops": 1000.0}  # per second: ms = 1000 * max(bytes, flops) / 1000


def test_kernels_by_hand():
    rows = roofline.kernels(HLO, RATES)
    # Parameters and get-tuple-element launch nothing.
    assert [r["name"] for r in rows] == ["g", "c", "t", "a"]
    gemm, cublas, attention, add = rows
    # x (8*16*2) + w (16*4*2) + out (8*4*2) bytes; 2 * 32 outputs * 16 contracted FLOPs.
    assert gemm["bytes"] == 256 + 128 + 64 and gemm["flops"] == 2 * 32 * 16
    assert gemm["kind"] == "fusion:kCustom:__triton_nested_gemm_fusion"
    assert gemm["ms"] == pytest.approx(1000 * 1024 / 1000)  # FLOP-bound at these rates
    assert cublas["kind"] == "custom:__cublas$lt$matmul" and cublas["flops"] == 1024 and cublas["bytes"] == 448
    # Three 64-byte operands in, a 64 + 32 byte tuple out; marked as attention.
    assert attention["bytes"] == 3 * 64 + 64 + 32 and attention["attention"] and attention["flops"] == 0
    assert add["kind"] == "fusion:kLoop" and add["bytes"] == 64 + 8 + 64 and add["ms"] == pytest.approx(136.0)


def test_summary_by_hand():
    summary = roofline.summarize(roofline.kernels(HLO, RATES))
    assert summary["kernels"] == 4
    assert summary["estimated_ms"] == pytest.approx(1024 + 1024 + 288 + 136)
    assert summary["attention_ms_lower_bound"] == pytest.approx(288)
    assert summary["matmul_gflop"] == pytest.approx(2048 / 1e9, abs=1e-3)
    layers = summary["layers"]
    assert layers["backward backbone/block_N/attention/query"]["ms"] == pytest.approx(1024)
    assert layers["backbone/block_N/ffn_norm"]["kernels"] == 1
    assert sum(group["share"] for group in summary["kinds"].values()) == pytest.approx(1, abs=1e-3)


def test_layer_names_and_bytes():
    assert roofline.layer_of("jit(train_step)/jvp(backbone)/block_12/ffn_hidden/tanh") == "backbone/block_N/ffn_hidden"
    assert roofline.array_bytes("(pred[3]{0}, s32[2,2]{1,0})") == 3 + 16
    with pytest.raises(ValueError, match="No ENTRY"):
        roofline.kernels("HloModule empty")


def _has_cuda_plugin():
    try:
        return importlib.util.find_spec("jax_plugins.xla_cuda12") is not None
    except ModuleNotFoundError:
        return False


def test_bench_hlo_compiles_for_an_h100_without_one():
    pytest.importorskip("jax")
    # (a process of its own: the backend is chosen per process)
    out = run_process("astromer.cli.bench", ["hlo", "--preset", "a1", "--mode", "embed", "--batch", "16",
                                             "--precision", "bf16", "--attention", "fused"],
                      cwd=ROOT, env={"KERAS_BACKEND": "jax"})
    if not _has_cuda_plugin():
        # Without JAX's CUDA plugin (as in CI): a clear way out, no traceback.
        assert out.returncode != 0 and "pip install 'jax[cuda12]'" in out.stderr
        assert "Traceback" not in out.stderr
        return
    assert out.returncode == 0, out.stderr[-3000:]
    (row,) = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    # Every dense kernel once per step of every window: A1 has 2 blocks of
    # four 256x256 attention projections and a 256 -> 128 -> 256 FFN (the
    # 1x256 magnitude projection may become an elementwise product, hence
    # the tolerance).
    expected = 2 * 16 * 200 * 2 * (4 * 256 * 256 + 2 * 256 * 128)
    assert row["matmul_gflop"] * 1e9 == pytest.approx(expected, rel=0.01)
    assert row["kernels"] > 0 and row["attention_ms_lower_bound"] > 0
