#!/usr/bin/env bash
# Session 15 (2026-12-03): the work directory was lost again (fourth time), so
# Fig. 9 seeds 1 and 2 are trained afresh from d54bcac (src9) with their
# attacks. Lane A owns core 1; lane B runs on core 0 at nice 19 so that the
# session's own work keeps a core's worth of headroom on demand.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTEROP_THREADS=1
W="$HOME/campaigns/cifar"
run() {  # run <cores> <threads> <nice> <index>
  echo "$(date -u +%FT%TZ) start fig9 run $4 (src9, cores $1, nice $3)"
  (cd "$HOME/campaigns/src9" && TF_NUM_INTRAOP_THREADS=$2 nice -n "$3" \
    taskset -c "$1" python -m apps.reproduce --figure=fig9 --scale=cifar \
    --workdir="$W" --run_index="$4") \
    || { rc=$?; echo "$(date -u +%FT%TZ) fig9 run $4 exited $rc"; exit 1; }
  echo "$(date -u +%FT%TZ) done fig9 run $4"
}
seed() {  # seed <first run index>: four models in two lanes, then attacks
  local i=$1
  (run 1 1 0 $i && run 1 1 0 $((i + 1))) &
  (run 0 1 19 $((i + 2)) && run 0 1 19 $((i + 3))) &
  wait
  run 0,1 2 10 $((i + 5)) && run 0,1 2 10 $((i + 4))
}
seed 6 && seed 12
