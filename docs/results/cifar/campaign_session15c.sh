#!/usr/bin/env bash
# Session 15 (2026-12-03), after CI: Fig. 4's depth-2 ConvMixers resumed from
# 4afc63e (worktree src10): seed 0 on core 1, seed 1 on core 0 at nice 19;
# runs 0 and 3 continue from the checkpoints the stop for CI left.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
W="$HOME/campaigns/cifar"
run() {  # run <core> <nice> <index>
  echo "$(date -u +%FT%TZ) start fig4 run $3 (src10, core $1, nice $2)"
  (cd "$HOME/campaigns/src10" && nice -n "$2" taskset -c "$1" \
    python -m apps.reproduce --figure=fig4 --scale=cifar --workdir="$W" \
    --run_index="$3") \
    || { rc=$?; echo "$(date -u +%FT%TZ) fig4 run $3 exited $rc"; exit 1; }
  echo "$(date -u +%FT%TZ) done fig4 run $3"
}
(for i in 0 1 2; do run 1 0 $i || exit 1; done) &
(for i in 3 4 5; do run 0 19 $i || exit 1; done) &
wait
