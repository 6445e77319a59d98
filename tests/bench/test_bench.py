"""`astromer-bench model`: FLOP count, kernel breakdown (--profile), options."""

import json
import os

import pytest

from astromer.bench.profiling import kernel_kind, summarize_kernels
from astromer.cli.bench import main as bench
from tests.conftest import requires_tensorflow_backend
from tests.harness import ROOT, run_cli, run_process


def test_kernel_kinds_by_name():
    # Names as they appear in H100 traces of XLA, cuBLAS and cuDNN kernels.
    assert kernel_kind("cudnn_generated_fort_native_sdpa_sm90_knob_7_64x64x64") == "attention"
    assert kernel_kind("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64") == "matmul"
    assert kernel_kind("nvjet_tst_128x192_64x4_2x1_v_bz_coopB_TNN") == "matmul"
    assert kernel_kind("loop_multiply_tanh_fusion_3") == "elementwise"
    assert kernel_kind("input_reduce_fusion_12") == "reduction"
    assert kernel_kind("MemcpyD2H") == "copy" and kernel_kind("transpose_7") == "copy"
    assert kernel_kind("sort_1") == "sort/gather"
    assert kernel_kind("ynn_fusion.36") == "cpu library fusion"
    assert kernel_kind("redzone_checker") == "other"


def test_summary_by_hand():
    events = [("gemm_a", 300), ("gemm_a", 300), ("fmha_fwd", 200), ("loop_add_fusion", 150), ("weird", 50)]
    summary = summarize_kernels(events, steps=2, top=2)
    # 1000 ns in 2 steps: 500 ns = 0.0005 ms per step.
    assert summary["device_ms_per_step"] == 0.0005
    assert list(summary["kinds"]) == ["matmul", "attention", "elementwise", "other"]
    assert summary["kinds"]["matmul"] == {"ms_per_step": 0.0003, "share": 0.6}
    assert summary["kinds"]["other"]["share"] == 0.05
    assert summary["top_kernels"] == [
        {"name": "gemm_a", "kind": "matmul", "ms_per_step": 0.0003, "share": 0.6, "launches_per_step": 1.0},
        {"name": "fmha_fwd", "kind": "attention", "ms_per_step": 0.0001, "share": 0.2, "launches_per_step": 0.5},
    ]
    with pytest.raises(ValueError, match="no kernel time"):
        summarize_kernels([], steps=1)
    with pytest.raises(ValueError, match="steps must be positive"):
        summarize_kernels(events, steps=0)


def test_model_flops_by_hand():
    from astromer.bench.workload import model_flops
    from astromer.models.astromer_backbone import AstromerBackbone

    backbone = AstromerBackbone.from_preset("a2-original")
    # Per step and block: QKV 2*256*768 + output 2*256*256 + FFN 2*(2*256*256)
    # = 786,432, plus attention 4*L*d = 204,800; 6 blocks; input Dense(1->256) 512.
    per_step = 6 * (786_432 + 204_800) + 512
    assert model_flops(backbone, "embed") == per_step * 200 == 1_189_580_800
    assert model_flops(backbone, "train") == 3 * per_step * 200


def _bench(*args, backend):
    """`astromer-bench model ARGS` in a process of `backend` (one backend
    per process)."""
    return run_process("astromer.cli.bench", ["model", *args], cwd=ROOT, env={"KERAS_BACKEND": backend})


def _bench_here(*args):
    """`astromer-bench model ARGS` in this (TensorFlow) process."""
    requires_tensorflow_backend()
    return run_cli(bench, ["model", *args], cwd=ROOT)


@pytest.mark.slow  # 27 CPU-s: a JAX process
def test_bench_model_profile_and_sorted_attention_on_jax(tmp_path):
    pytest.importorskip("jax")
    out = _bench(
        "--preset", "a1", "--set", "model.num_layers=1", "--attention", "lengths", "--batch", "4",
        "--steps", "1", "--warmup", "1", "--precision", "fp32", "--profile", str(tmp_path), "--profile-steps", "2",
        backend="jax",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (row,) = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert row["attention"] == "lengths" and row["windows_per_s"] > 0
    profile = row["profile"]
    assert profile["source"] == "cpu threads" and profile["device_ms_per_step"] > 0
    assert abs(sum(k["share"] for k in profile["kinds"].values()) - 1) < 1e-3
    assert 0 < profile["device_busy"] <= 1
    with open(os.path.join(profile["trace"], "summary.json")) as f:
        assert json.load(f)["top_kernels"] == profile["top_kernels"]


@pytest.mark.slow  # 150 s on torch, 88 s on JAX: eight processes that compile
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_queued_steps_train_exactly_like_synced_ones(backend):
    # `--sync end` (the reference's way of timing) must run the very same
    # training: the same weights step after step give the same last loss.
    pytest.importorskip(backend)
    common = ("--preset", "a1", "--set", "model.num_layers=1", "--batch", "4", "--steps", "3", "--warmup", "2",
              "--precision", "fp32")
    rows = {}
    for sync in ("step", "end"):
        for mode in ("train", "embed"):
            out = _bench(*common, "--mode", mode, "--sync", sync, backend=backend)
            assert out.returncode == 0, out.stderr[-3000:]
            (rows[sync, mode],) = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert rows["end", "train"]["sync"] == "end" and rows["end", "embed"]["windows_per_s"] > 0
    # Five steps from the same seed; a sync that skipped or repeated a step,
    # or returned a running mean, would give another loss.
    assert rows["end", "train"]["final_loss"] == pytest.approx(rows["step", "train"]["final_loss"], rel=1e-5)
    if backend == "torch":
        # One graph per run: no timed step traced or compiled again.
        assert all(row["graph_traces"] == 1 for row in rows.values()), rows


def test_bench_model_refuses_bad_options_cleanly():
    out = _bench_here("--preset", "a1", "--profile", "/tmp/x")
    assert out.returncode == 2 and "--profile needs KERAS_BACKEND=jax (this is tensorflow)" in out.stderr
    out = _bench_here("--preset", "a1", "--sync", "end")
    assert out.returncode == 2 and "--sync end needs KERAS_BACKEND=jax or torch" in out.stderr
    out = _bench_here("--preset", "a9")
    assert out.returncode == 2 and "Unknown preset 'a9'" in out.stderr and "Traceback" not in out.stderr
    out = _bench_here("--preset", "a1", "--set", "model.ffn=3")
    assert out.returncode == 2 and "Unknown setting 'model.ffn'" in out.stderr and "model.ff_dim" in out.stderr
    # The original A2 mask is soft: key lengths cannot express it.
    out = _bench_here("--preset", "a2-original", "--attention", "lengths", "--batch", "2")
    assert out.returncode == 2 and "mask_alpha=-0.5" in out.stderr and "Traceback" not in out.stderr


def test_bench_model_side_by_side_with_a_reference():
    script = ROOT / "tests" / "bench" / "fake_reference.py"
    common = ("--preset", "a1", "--set", "model.num_layers=1", "--steps", "2", "--warmup", "1", "--precision", "fp32",
              "--mode", "embed", "--reference", str(script))
    out = _bench_here(*common, "--batch", "2", "3")
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["batch"] for r in rows] == [2, 3]
    for row in rows:
        # The reference got the same batch, mode and steps: 10 * batch + steps.
        theirs = 10 * row["batch"] + 2
        assert row["reference"] == {"impl": "fake-torch", "windows_per_s": theirs}
        # (windows_per_s is rounded to an integer in the row, the ratio is not)
        assert abs(row["ratio_to_reference"] - row["windows_per_s"] / theirs) < 0.6 / theirs + 1e-3
    failed = _bench_here(*common, "--batch", "5")
    assert failed.returncode != 0 and "out of memory at batch 5" in failed.stderr
