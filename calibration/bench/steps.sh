# Shared by run_all.sh and run_multi_gpu.sh (sourced, not run): each benchmark step runs under
# a timeout, within an optional total budget, and its exit code and duration go to a status
# CSV, so that a failing or timed-out step never stops the others.
#
# The caller sets: STATUS_CSV (file to append to), BUDGET_S (total seconds, 0: none), START
# (epoch seconds when the run began), and optionally MIN_STEP_S (a step with less time left
# is skipped; default 20).

record() { echo "$1,$2,$3" >>"$STATUS_CSV"; }  # record NAME RC SECONDS

step_timeout() {  # step_timeout STEP DEFAULT -> TIMEOUT_<STEP> from the environment, or DEFAULT
  local var="TIMEOUT_$1"
  echo "${!var:-$2}"
}

timeout_for() {  # timeout_for SECONDS -> seconds to allow within the budget (0: skip the step)
  local t=$1
  if [ "$BUDGET_S" -gt 0 ]; then
    local left=$(( BUDGET_S - ($(date +%s) - START) - 15 ))
    [ "$left" -lt "$t" ] && t=$left
    [ "$t" -lt "${MIN_STEP_S:-20}" ] && t=0
  fi
  echo "$t"
}

run_timed() {  # run_timed NAME SECONDS CMD... (CMD must be a command: timeout cannot run a function)
  local name=$1 t=$2
  shift 2
  if [ "$t" -le 0 ]; then
    echo "!! $name: skipped (time budget exhausted)"
    record "$name" skipped 0
    return
  fi
  echo "== $name (timeout ${t}s): $*"
  local t0 rc
  t0=$(date +%s)
  timeout --kill-after=15 "$t" "$@"
  rc=$?
  [ $rc -eq 124 ] && echo "!! $name: timed out after ${t}s (partial results kept)"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "!! $name: failed with exit code $rc"
  record "$name" "$rc" $(( $(date +%s) - t0 ))
}
