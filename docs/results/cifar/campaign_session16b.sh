#!/usr/bin/env bash
# Session 16, from 02:40 UTC: the rest of campaign_session16.sh's queue with
# TensorFlow's oneDNN kernels on (TF_ENABLE_ONEDNN_OPTS=1). TensorFlow leaves
# them off on this AVX2-only EPYC; benchmarks/onednn.py measured the
# cifar-scale training steps 1.25-2.45x faster with them. Same worktree
# (src10, 4afc63e), same work directory. Each lane starts when the run the
# first script left on its core has finished (that script's queue was
# emptied). The whole campaign gets autogroup nice 19, so that it yields to
# the session's own work on either core (a plain `nice` does not reach
# across autogroups). Run from a copy outside the checkout: bash reads a
# script as it runs, and editing the checkout's copy would change it.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
export TF_ENABLE_ONEDNN_OPTS=1
echo 19 > /proc/self/autogroup 2>/dev/null || true
W="$HOME/campaigns/cifar"
Q="$W/queue"
pop() { flock "$Q.lock" sh -c 'head -n1 "$1"; sed -i 1d "$1"' _ "$Q"; }
lane() {  # lane <core> <nice> <run index left on this core by the first script>
  while pgrep -f "apps.reproduce --figure=fig4 .*--run_index=$3\$" >/dev/null; do
    sleep 10
  done
  while job=$(pop) && [ -n "$job" ]; do
    set -- "$1" "$2" $job
    echo "$(date -u +%FT%TZ) start $3 run $4 (src10, core $1, nice $2, oneDNN on)"
    (cd "$HOME/campaigns/src10" && nice -n "$2" taskset -c "$1" \
      python -m apps.reproduce --figure="$3" --scale=cifar --workdir="$W" \
      --run_index="$4") \
      || { echo "$(date -u +%FT%TZ) $3 run $4 exited $?"; return 1; }
    echo "$(date -u +%FT%TZ) done $3 run $4"
    set -- "$1" "$2"
  done
}
lane 1 0 6 &
lane 0 10 5 &
wait
