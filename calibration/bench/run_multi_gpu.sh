#!/usr/bin/env bash
# The multi-GPU campaign in one command: NCCL collectives (collectives.py) and tensor-parallel
# Llama-3-70B-shaped steps (validation/llama_step_tp.py) on 2, 4 and 8 GPUs of one machine.
#
#   calibration/bench/run_multi_gpu.sh OUTDIR
#
# Writes into OUTDIR: collectives_n<N>.csv and llama_step_tp<N>.csv per GPU count, the same
# rows joined in collectives.csv and llama_step_tp.csv, topology.txt (nvidia-smi topo -m),
# status.csv (exit code and seconds of each step), run_multi_gpu.log and
# multi-gpu-results.tar.gz. A failing or timed-out step is recorded and the others still run.
# NVLink SHARP (multicast) stays off: NCCL_NVLS_ENABLE=0 for every step.
#
# Environment:
#   GPU_COUNTS   GPU counts to run (default "2 4 8"; counts above the GPUs present are skipped)
#   STEPS        "collectives llama_tp" (default: both)
#   PYTHON       Python with a CUDA build of PyTorch (default: python3)
#   TP_ARGS      extra arguments for llama_step_tp.py (default "--fused"; e.g. "--grid full")
#   COLL_ARGS    extra arguments for collectives.py (e.g. "--step 4")
#   BUDGET_S     total wall-clock budget in seconds; steps are shortened or skipped to fit
#   TIMEOUT_collectives, TIMEOUT_llama_tp   per-step timeouts in seconds (180, 420)
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 64
fi
OUTDIR=$1
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VALIDATION=$(cd "$HERE/../validation" && pwd)
PYTHON=${PYTHON:-python3}
GPU_COUNTS=${GPU_COUNTS:-"2 4 8"}
STEPS=${STEPS:-"collectives llama_tp"}
TP_ARGS=${TP_ARGS---fused}
COLL_ARGS=${COLL_ARGS:-}
BUDGET_S=${BUDGET_S:-0}
read -r -a TP_ARGV <<<"$TP_ARGS"
read -r -a COLL_ARGV <<<"$COLL_ARGS"
export NCCL_NVLS_ENABLE=0
export PYTHONUNBUFFERED=1
START=$(date +%s)

exec > >(tee -a "$OUTDIR/run_multi_gpu.log") 2>&1
echo "== servesim multi-GPU run, $(date -u +%Y-%m-%dT%H:%M:%SZ), host $(hostname)"
echo "== output: $OUTDIR; NCCL_NVLS_ENABLE=$NCCL_NVLS_ENABLE"

GPUS_PRESENT=0
if command -v nvidia-smi >/dev/null 2>&1; then
  GPUS_PRESENT=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
  nvidia-smi topo -m >"$OUTDIR/topology.txt" 2>&1 || true
  nvidia-smi >"$OUTDIR/nvidia_smi_start.txt" 2>&1 || true
  BENCH_DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader -i 0 2>/dev/null | head -n1 | tr -d ' ')
  [ -n "$BENCH_DRIVER" ] && export BENCH_DRIVER
fi
echo "== $GPUS_PRESENT GPUs present"

STATUS_CSV="$OUTDIR/status.csv"
MIN_STEP_S=30
echo "step,rc,seconds" >"$STATUS_CSV"
# shellcheck source=steps.sh
. "$HERE/steps.sh"

# torchrun as a command (not a shell function: `timeout` runs commands only).
TORCHRUN=("$PYTHON" -m torch.distributed.run --standalone)

for n in $GPU_COUNTS; do
  if [ "$GPUS_PRESENT" -lt "$n" ]; then
    echo "!! $n GPUs: only $GPUS_PRESENT present, skipped"
    for step in $STEPS; do record "${step}_n$n" skipped 0; done
    continue
  fi
  for step in $STEPS; do
    case $step in
      collectives)
        t=$(timeout_for "$(step_timeout collectives 180)")
        run_timed "collectives_n$n" "$t" "${TORCHRUN[@]}" --nproc-per-node "$n" "$HERE/collectives.py" \
          --out "$OUTDIR/collectives_n$n.csv" --max-seconds $(( t > 40 ? t - 30 : t )) \
          ${COLL_ARGV[@]+"${COLL_ARGV[@]}"}
        ;;
      llama_tp)
        t=$(timeout_for "$(step_timeout llama_tp 420)")
        run_timed "llama_tp_n$n" "$t" "${TORCHRUN[@]}" --nproc-per-node "$n" "$VALIDATION/llama_step_tp.py" \
          --model llama-3-70b --out "$OUTDIR/llama_step_tp$n.csv" \
          --max-seconds $(( t > 60 ? t - 45 : t )) ${TP_ARGV[@]+"${TP_ARGV[@]}"}
        ;;
      *)
        echo "!! unknown step $step"
        ;;
    esac
  done
done

join_csv() {  # join_csv OUT IN... : one header, every row
  local out=$1 first=1 f
  shift
  : >"$out"
  for f in "$@"; do
    [ -s "$f" ] || continue
    if [ $first = 1 ]; then cat "$f" >>"$out"; first=0; else tail -n +2 "$f" >>"$out"; fi
  done
  [ $first = 1 ] && rm -f "$out"
}
shopt -s nullglob
join_csv "$OUTDIR/collectives.csv" "$OUTDIR"/collectives_n*.csv
join_csv "$OUTDIR/llama_step_tp.csv" "$OUTDIR"/llama_step_tp[0-9]*.csv
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >"$OUTDIR/nvidia_smi_end.txt" 2>&1

(cd "$OUTDIR" && tar czf multi-gpu-results.tar.gz --exclude=multi-gpu-results.tar.gz \
   ./*.csv ./*.txt ./*.log 2>/dev/null) || true
echo "== done in $(( $(date +%s) - START )) s; results in $OUTDIR"
echo "== fit: servesim calibrate --data DIR_WITH_SINGLE_GPU_CSVS_AND_collectives.csv --gpu h200 --out h200.toml"
echo "== validate: servesim validate $OUTDIR/llama_step_tp.csv --gpu h200 --calibration h200.toml"
