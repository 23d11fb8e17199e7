#!/usr/bin/env bash
# Session 15 (2026-12-03): after campaign_session15.sh (Fig. 9 seeds 1, 2),
# Fig. 4's depth-2 ConvMixers (run indices 0-8: seeds 0, 1, 2 x Full / Space /
# Chans) from 4afc63e (worktree src10, whose metrics.json records the CPU
# flags and library versions), in the same two lanes.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTEROP_THREADS=1
W="$HOME/campaigns/cifar"
while kill -0 1910 2>/dev/null; do sleep 30; done
run() {  # run <core> <nice> <index>
  echo "$(date -u +%FT%TZ) start fig4 run $3 (src10, core $1, nice $2)"
  (cd "$HOME/campaigns/src10" && TF_NUM_INTRAOP_THREADS=1 nice -n "$2" \
    taskset -c "$1" python -m apps.reproduce --figure=fig4 --scale=cifar \
    --workdir="$W" --run_index="$3") \
    || { rc=$?; echo "$(date -u +%FT%TZ) fig4 run $3 exited $rc"; exit 1; }
  echo "$(date -u +%FT%TZ) done fig4 run $3"
}
(for i in 0 1 2 6 7; do run 1 0 $i || exit 1; done) &
(for i in 3 4 5 8; do run 0 19 $i || exit 1; done) &
wait
