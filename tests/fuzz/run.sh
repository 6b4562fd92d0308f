#!/usr/bin/env bash
# Runs servesim's fuzz targets, each from a seed corpus made of the repository's own files
# (scenarios/, models/, hardware/, calibration/results/ and a run, sweep and plan folder).
#   tests/fuzz/run.sh                       every target for 60 s each (as CI does)
#   tests/fuzz/run.sh 3600                  every target for an hour each
#   tests/fuzz/run.sh 3600 model_fuzz       one target
#   FUZZ_RUNS=1000000 tests/fuzz/run.sh 7200  each target until 1,000,000 inputs (or 2 hours)
# Build them first (clang): CC=clang CXX=clang++ cmake -S . -B build-fuzz -DSERVESIM_FUZZ=ON
# && cmake --build build-fuzz. BUILD_DIR names another build folder; FUZZ_WORK where corpora,
# logs and crash inputs go (default BUILD_DIR/fuzz-work). Exits non-zero when a target finds a
# crash, a hang over 10 s, a leak or nonsense output; its input is kept under artifacts/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${BUILD_DIR:-$root/build-fuzz}" && pwd)
seconds=${1:-60}
shift || true
all=(scenario_fuzz trace_fuzz model_fuzz hardware_fuzz folder_fuzz simulate_fuzz)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
work=${FUZZ_WORK:-$build/fuzz-work}
mkdir -p "$work"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp}

# seed DIR PREFIX FILE...: each file as one input, PREFIX (a kind byte) first.
seed() {
  local dir=$1 prefix=$2
  shift 2
  for f in "$@"; do
    [[ -f $f ]] || continue
    { printf '%s' "$prefix"; cat "$f"; } > "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"
  done
}

# A run, a sweep and a plan folder of the quickstart, each as one input of named files.
folder_seeds() {
  local dir=$1 tmp
  tmp=$(mktemp -d)
  local bin=$build/servesim
  "$bin" run "$root/scenarios/quickstart.toml" --set workload.requests=40 --out "$tmp/run" > /dev/null
  "$bin" sweep "$root/scenarios/quickstart.toml" --set workload.requests=40 \
    --vary workload.rate=2:8:x2 --out "$tmp/sweep" > /dev/null 2>&1
  "$bin" plan "$root/scenarios/quickstart.toml" --set workload.requests=40 --rate 10 \
    --out "$tmp/plan" > /dev/null 2>&1
  for kind in run sweep plan; do
    for f in "$tmp/$kind"/*.json "$tmp/$kind"/*.csv; do
      [[ -f $f ]] || continue
      printf '==> %s <==\n' "$(basename "$f")"
      head -n 40 "$f"
    done > "$dir/$kind"
  done
  rm -rf "$tmp"
}

corpus() {
  local t=$1 dir=$work/corpus/$1
  mkdir -p "$dir"
  case $t in
    scenario_fuzz) seed "$dir" "" "$root"/scenarios/*.toml ;;
    simulate_fuzz)
      # Small enough to simulate: the target skips scenarios of more than 200 requests.
      for f in "$root"/scenarios/*.toml; do
        { cat "$f"; printf '\n#--set\nworkload.requests=30\n'; } > "$dir/$(basename "$f")"
      done ;;
    trace_fuzz)
      printf 'carrival_s,prompt_tokens,output_tokens\n0,100,20\n0.5,2000,5\n1.25,7,300\n' > "$dir/csv"
      printf 'carrival_s,prompt_tokens,output_tokens,warmup\n0,10,2,1\n0.1,10,2,0\n' > "$dir/warmup"
      printf 'j{"arrival_s": 0, "prompt_tokens": 100, "output_tokens": 20}\n{"arrival_s": 0.5, "prompt_tokens": 30, "output_tokens": 4}\n' > "$dir/jsonl" ;;
    model_fuzz)
      seed "$dir" t "$root"/models/catalog/*.toml
      printf 'j{"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 8192, "tie_word_embeddings": false}' > "$dir/llama.json" ;;
    hardware_fuzz)
      seed "$dir" g "$root"/hardware/catalog/gpus/*.toml
      seed "$dir" l "$root"/hardware/catalog/links/*.toml
      seed "$dir" c "$root"/calibration/results/*.toml ;;
    folder_fuzz) folder_seeds "$dir" ;;
  esac
}

status=0
for t in "${targets[@]}"; do
  corpus "$t"
  mkdir -p "$work/artifacts/$t"
  echo "fuzz: $t for ${seconds}s" >&2
  runs=()
  [[ -n ${FUZZ_RUNS:-} ]] && runs=(-runs="$FUZZ_RUNS")
  if ! "$build/tests/fuzz/$t" -max_total_time="$seconds" "${runs[@]}" -timeout=10 -rss_limit_mb=4096 \
       -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" "$work/corpus/$t" \
       > "$work/$t.log" 2>&1; then
    echo "fuzz: $t FOUND A FAULT; its input is in $work/artifacts/$t/ (log: $work/$t.log)" >&2
    tail -n 40 "$work/$t.log" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$t.log" | sed "s/^/fuzz: $t /" >&2 || true
done
exit $status
