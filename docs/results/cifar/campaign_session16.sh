#!/usr/bin/env bash
# Session 16 (2026-12-04, AMD EPYC, 2 cores): the work directory was lost again,
# so the campaign restarts in a fresh one from 4afc63e (worktree src10), the
# commit of the four depth-2 Fig. 4 runs already in docs/results/cifar/runs/.
# Two lanes take "<figure> <run index>" lines from one queue: Fig. 4's depth-2
# Space runs of seeds 0 and 1 and seed 2's three depth-2 runs, then Fig. 5's
# seed 0 (ResNet-8 Chans with random, same, box and identity filters, then
# Full). Fig. 12's centre was first in that place, then replaced through the
# queue file before it started: it trains at 17 images/s on one core of this
# EPYC, ~2.5 h a run. Lane A on core 1 at nice 0, lane B on
# core 0 at nice 19 (it leaves that core to the session's own work). Edit the
# queue file to change what runs next.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
W="$HOME/campaigns/cifar"
Q="$W/queue"
[ -f "$Q" ] || printf '%s\n' "fig4 2" "fig4 5" "fig4 6" "fig4 7" "fig4 8" \
  "fig5 1" "fig5 2" "fig5 3" "fig5 4" "fig5 0" > "$Q"
pop() { flock "$Q.lock" sh -c 'head -n1 "$1"; sed -i 1d "$1"' _ "$Q"; }
lane() {  # lane <core> <nice>
  while job=$(pop) && [ -n "$job" ]; do
    set -- "$1" "$2" $job
    echo "$(date -u +%FT%TZ) start $3 run $4 (src10, core $1, nice $2)"
    (cd "$HOME/campaigns/src10" && nice -n "$2" taskset -c "$1" \
      python -m apps.reproduce --figure="$3" --scale=cifar --workdir="$W" \
      --run_index="$4") \
      || { echo "$(date -u +%FT%TZ) $3 run $4 exited $?"; return 1; }
    echo "$(date -u +%FT%TZ) done $3 run $4"
    set -- "$1" "$2"
  done
}
lane 1 0 &
lane 0 19 &
wait
