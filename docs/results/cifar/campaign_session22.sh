#!/usr/bin/env bash
# Session 22 (2026-12-05, from 13:05 UTC; a 2-core Intel Xeon with AMX and
# AVX512-BF16). The machine of sessions 19-21 is gone and `~/campaigns` with
# it: seeds 1 and 2 of `unshuffle_length` (run indices 2-5) start again from
# zero in a fresh standalone clone, src12, at 9535525 as before. Seed 0's
# JSON, kept in docs/results/cifar/runs/unshuffle_sweep/, is copied back into
# the work directory so that the report has all three seeds.
# A queue line is `<figure> <run index> [<worktree>]` (default src12).
# oneDNN on (TF_ENABLE_ONEDNN_OPTS=1), one thread per run, one run per core,
# autogroup nice 19 so the campaign yields to the session's own work. Run
# from a copy outside the checkout.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
export TF_ENABLE_ONEDNN_OPTS=1
echo 19 > /proc/self/autogroup 2>/dev/null || true
W="$HOME/campaigns/cifar"
Q="$W/queue"
pop() { flock "$Q.lock" sh -c 'head -n1 "$1"; sed -i 1d "$1"' _ "$Q"; }
lane() {  # lane <core>
  while job=$(pop) && [ -n "$job" ]; do
    set -- "$1" $job
    src="${4:-src12}"
    echo "$(date -u +%FT%TZ) start $2 run $3 ($src, core $1, oneDNN on)"
    (cd "$HOME/campaigns/$src" && taskset -c "$1" \
      python -m apps.reproduce --figure="$2" --scale=cifar --workdir="$W" \
      --run_index="$3") \
      || { echo "$(date -u +%FT%TZ) $2 run $3 exited $?"; return 1; }
    echo "$(date -u +%FT%TZ) done $2 run $3"
    set -- "$1"
  done
}
lane 1 &
lane 0 &
wait
