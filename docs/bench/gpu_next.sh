#!/usr/bin/env bash
# The next H100 session for issue 7 (GPU speed), one part per `run` call (each < 10 min).
#
# Prepare on this machine (both folders are git-ignored and travel with `carry`):
#   mkdir -p .whl .bench && cp ../shared/bench/torch_a2_reference.py .bench/
#   pip download --no-deps -d .whl keras==3.15.1 namex optree --python-version 3.12 --only-binary=:all:
# Then, with the device tool: run(command="bash docs/bench/gpu_next.sh torch", carry=[".whl", ".bench"])
# Parts: torch | torch-modes | train | embed | flags-train | flags-embed. The GPU machine has JAX and
# PyTorch but no TensorFlow; rows go to $OUT/bench_<part>.jsonl (docs/performance.md says where they go).
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>/dev/null
part=${1:-train}
log() { "$@" 2>&1 | grep -E '^\{' | tee -a $OUT/bench_$part.jsonl; }
if [ "$part" = torch ]; then
  # Same shape, precision and batches as the reference, both modes, the reference in the same run;
  # --sync end times ours as the reference times itself. Compile takes ~1 min per batch size.
  for mode in train embed; do
    KERAS_BACKEND=torch log timeout 280 python3 -m astromer.cli.bench model --preset a2-original \
      --set model.mask_alpha=-1e9 --precision bf16 --steps 30 --batch 2048 4096 --mode $mode --sync end \
      --reference .bench/torch_a2_reference.py
  done
  exit 0
fi
if [ "$part" = torch-modes ]; then
  # torch.compile modes of the step graphs at batch 4096: CUDA graphs, and autotuned GEMMs.
  for mode in train embed; do
    for cm in reduce-overhead max-autotune-no-cudagraphs; do
      KERAS_BACKEND=torch log timeout 280 python3 -m astromer.cli.bench model --preset a2-original \
        --set model.mask_alpha=-1e9 --precision bf16 --steps 30 --batch 4096 --mode $mode --sync end \
        --torch-compile-mode $cm
    done
  done
  exit 0
fi
base="timeout 170 python3 -m astromer.cli.bench model --preset a2-original --set model.mask_alpha=-1e9 --precision bf16 --steps 20"
if [ "${part%-*}" = flags ]; then
  # XLA flag sweep at batch 4096 (Triton GEMMs can fuse the elementwise neighbours of a matmul).
  for mode in ${part#flags-}; do
    # cuBLASLt GEMMs take the bias add as an epilogue (Triton GEMMs leave it to a separate pass):
    # the deviceless-compile estimate (docs/performance.md) predicts -27% embed (with LayerNorm), -5% train.
    for flags in "" "--xla_gpu_enable_triton_gemm=false" "--xla_gpu_triton_gemm_any=true" "--xla_gpu_autotune_level=4"; do
      XLA_FLAGS="$flags" log $base --batch 4096 --mode $mode --sync end --attention lengths --set model.fused_qkv=false
    done
    XLA_FLAGS="--xla_gpu_enable_triton_gemm=false" log $base --batch 4096 --mode $mode --sync end --attention lengths \
      --reference .bench/torch_a2_reference.py
  done
  exit 0
fi
B="$base --batch 2048 4096 --mode $part"
# Row 1 repeats the earlier method (every step synced) next to the reference; the others queue the
# steps and wait for the last one, as the reference times itself (--sync end).
log $B --attention fused --reference .bench/torch_a2_reference.py
log $B --attention fused --sync end --profile $OUT/profiles_fused
log $B --attention lengths --sync end --profile $OUT/profiles
log $B --attention lengths --sync end --set model.fused_qkv=false --reference .bench/torch_a2_reference.py --profile $OUT/profiles_sep
