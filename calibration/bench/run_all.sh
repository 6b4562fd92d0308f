#!/usr/bin/env bash
# Builds the calibration microbenchmarks and runs all of them on GPU 0.
#
#   calibration/bench/run_all.sh OUTDIR
#
# Writes into OUTDIR: one CSV per benchmark, gpu_info.txt, nvidia-smi
# snapshots, status.csv (exit code and duration of each step), run_all.log,
# and calibration-results.tar.gz holding all of these.  Each step runs on its
# own: a failing or timed-out benchmark does not stop the others (rows are
# flushed as they are measured, so a killed step keeps what it measured).
#
# Environment:
#   CUDA_ARCHS   CMake CUDA architectures, e.g. "90" or "80;89;90" (default: the
#                GPU of this machine with CMake >= 3.24, else "80;89;90")
#   BUILD_DIR    build directory (default: OUTDIR/build)
#   PYTHON       Python with PyTorch for attention/validation (default: python3)
#   STEPS        steps to run (default: "launch mem_bw elementwise gemm
#                attention sustained framework llama_step llama70b")
#   BUDGET_S     total wall-clock budget in seconds; steps are shortened or
#                skipped to end within it (default: none)
#   GEMM_ARGS    extra arguments for the gemm benchmark (e.g. "--algos 4")
#   TIMEOUT_<step>  per-step timeout in seconds (e.g. TIMEOUT_gemm=300)
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
BUILD_DIR=${BUILD_DIR:-$OUTDIR/build}
PYTHON=${PYTHON:-python3}
CUDA_ARCHS=${CUDA_ARCHS:-}
STEPS=${STEPS:-"launch mem_bw elementwise gemm attention sustained framework llama_step llama70b"}
BUDGET_S=${BUDGET_S:-0}
GEMM_ARGS=${GEMM_ARGS:-}
read -r -a GEMM_ARGV <<<"$GEMM_ARGS"
LOG=$OUTDIR/run_all.log
START=$(date +%s)

exec > >(tee -a "$LOG") 2>&1

echo "== servesim calibration run, $(date -u +%Y-%m-%dT%H:%M:%SZ), host $(hostname)"
echo "== output: $OUTDIR"

if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

SMI_FIELDS=name,driver_version,pstate,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,power.draw,temperature.gpu,memory.total,memory.used
smi_snapshot() {
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=$SMI_FIELDS --format=csv -i 0 >"$OUTDIR/$1" 2>/dev/null || true
  fi
}
smi_snapshot nvidia_smi_start.csv
if command -v nvidia-smi >/dev/null 2>&1; then
  BENCH_DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader -i 0 2>/dev/null | head -n1 | tr -d ' ')
  [ -n "$BENCH_DRIVER" ] && export BENCH_DRIVER
  nvidia-smi -i 0 >"$OUTDIR/nvidia_smi_start.txt" 2>&1 || true
fi

STATUS_CSV="$OUTDIR/status.csv"
echo "step,rc,seconds" >"$STATUS_CSV"
# shellcheck source=steps.sh
. "$HERE/steps.sh"

# ---------------------------------------------------------------- build
echo "== build (CUDA architectures: ${CUDA_ARCHS:-CMakeLists default})"
t0=$(date +%s)
BUILD_OK=0
ARCH_ARGS=()
[ -n "$CUDA_ARCHS" ] && ARCH_ARGS=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS")
if cmake -S "$HERE" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${ARCH_ARGS[@]+"${ARCH_ARGS[@]}"} \
      >"$OUTDIR/build.log" 2>&1 &&
   cmake --build "$BUILD_DIR" -j "$(nproc 2>/dev/null || echo 4)" >>"$OUTDIR/build.log" 2>&1; then
  BUILD_OK=1
  record build 0 $(( $(date +%s) - t0 ))
else
  echo "!! build failed; see build.log (CUDA benchmarks skipped)"
  tail -n 30 "$OUTDIR/build.log"
  record build 1 $(( $(date +%s) - t0 ))
fi

if [ "$BUILD_OK" = 1 ]; then
  if "$BUILD_DIR/devinfo" >"$OUTDIR/gpu_info.txt" 2>&1; then
    cat "$OUTDIR/gpu_info.txt"
    get() { sed -n "s/^$1=//p" "$OUTDIR/gpu_info.txt" | head -n1; }
    BENCH_GPU=$(get gpu)
    BENCH_SM_CLOCK_MHZ=$(get sm_clock_mhz)
    BENCH_MEM_CLOCK_MHZ=$(get mem_clock_mhz)
    BENCH_CUDA_DRIVER_API=$(get cuda_driver_api)
    export BENCH_GPU BENCH_SM_CLOCK_MHZ BENCH_MEM_CLOCK_MHZ BENCH_CUDA_DRIVER_API
  fi
fi

# ---------------------------------------------------------------- steps
run_step() {  # run_step NAME DEFAULT_TIMEOUT CMD...
  local name=$1 t
  t=$(timeout_for "$(step_timeout "$1" "$2")")
  shift 2
  run_timed "$name" "$t" "$@"
}

py_budget() {  # py_budget STEP DEFAULT -> --max-seconds for a Python step
  local t
  t=$(timeout_for "$(step_timeout "$1" "$2")")
  echo $(( t > 40 ? t - 25 : t ))
}

export PYTHONUNBUFFERED=1
for step in $STEPS; do
  case $step in
    launch|mem_bw|elementwise|gemm)
      if [ "$BUILD_OK" != 1 ]; then record "$step" skipped 0; continue; fi
      case $step in
        launch) run_step launch 120 "$BUILD_DIR/launch" --out "$OUTDIR/launch.csv" ;;
        mem_bw) run_step mem_bw 150 "$BUILD_DIR/mem_bw" --out "$OUTDIR/mem_bw.csv" ;;
        elementwise) run_step elementwise 150 "$BUILD_DIR/elementwise" --out "$OUTDIR/elementwise.csv" ;;
        gemm) run_step gemm 420 "$BUILD_DIR/gemm" --out "$OUTDIR/gemm.csv" ${GEMM_ARGV[@]+"${GEMM_ARGV[@]}"} ;;
      esac
      ;;
    attention)
      run_step attention 300 "$PYTHON" "$HERE/attention.py" --out "$OUTDIR/attention.csv" \
        --max-seconds "$(py_budget attention 300)"
      ;;
    sustained)
      run_step sustained 120 "$PYTHON" "$HERE/sustained.py" --out "$OUTDIR/sustained.csv"
      ;;
    framework)
      run_step framework 120 "$PYTHON" "$HERE/framework_launch.py" --out "$OUTDIR/framework_launch.csv"
      ;;
    llama_step)
      run_step llama_step 420 "$PYTHON" "$VALIDATION/llama_step.py" --out "$OUTDIR/llama_step.csv" \
        --max-seconds "$(py_budget llama_step 420)"
      ;;
    llama70b)
      run_step llama70b 240 "$PYTHON" "$VALIDATION/llama_step.py" --model llama-3-70b --layers 8 \
        --grid small --out "$OUTDIR/llama_step_70b8l.csv" --max-seconds "$(py_budget llama70b 240)"
      ;;
    *)
      echo "!! unknown step $step"
      ;;
  esac
done

smi_snapshot nvidia_smi_end.csv

echo "== summary"
"$PYTHON" "$HERE/summarize.py" "$OUTDIR" || echo "!! summary failed"

(cd "$OUTDIR" && tar czf calibration-results.tar.gz --exclude=calibration-results.tar.gz \
   ./*.csv ./*.txt ./*.log 2>/dev/null) || true
echo "== done in $(( $(date +%s) - START )) s; results in $OUTDIR"
