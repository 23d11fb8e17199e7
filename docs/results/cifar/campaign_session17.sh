#!/usr/bin/env bash
# Session 17 (2026-12-04, from 13:22 UTC; a 2-core AMD EPYC with AVX-512,
# where TensorFlow turns oneDNN on by itself): the rest of Fig. 5 (seed 0
# identity and Full, then seeds 1 and 2), queue `fig5 0`, `fig5 4`,
# `fig5 5` .. `fig5 14`, then Fig. 4's depth 4 (`fig4 9` .. `fig4 17`);
# then, after CI, Fig. 2 (`fig2 2 5 8`, ResNet-14 `fig2 9` .. `fig2 17`)
# and Fig. 12's centre (`fig12 0 1`). The queue is `$W/queue`, one
# `<figure> <run index>` a line, edited under `flock $W/queue.lock`.
# ~/campaigns was gone again (sixth loss; seed 0's random/same/box runs
# survive as JSON in runs/resnet/). A new worktree
# (src11) pinned at 9054618, the commit
# whose CI passed last: its training code is that of 4afc63e (src10, which
# ran seed 0's random/same/box runs); it adds versions.onednn to every
# metrics.json. A new work directory. oneDNN on (TF_ENABLE_ONEDNN_OPTS=1),
# one thread per run, one run per core, autogroup nice 19 so the campaign
# yields to the session's own work. Run from a copy outside the checkout.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
export TF_ENABLE_ONEDNN_OPTS=1
echo 19 > /proc/self/autogroup 2>/dev/null || true
W="$HOME/campaigns/cifar"
Q="$W/queue"
SRC="$HOME/campaigns/src11"
pop() { flock "$Q.lock" sh -c 'head -n1 "$1"; sed -i 1d "$1"' _ "$Q"; }
lane() {  # lane <core>
  while job=$(pop) && [ -n "$job" ]; do
    set -- "$1" $job
    echo "$(date -u +%FT%TZ) start $2 run $3 (src11, core $1, oneDNN on)"
    (cd "$SRC" && taskset -c "$1" \
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
