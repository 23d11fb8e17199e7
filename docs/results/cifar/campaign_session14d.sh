#!/usr/bin/env bash
# Session 14 (2026-12-03), after CI: seed 1 of Fig. 9 from d54bcac (src9) in
# two lanes (one core, one TF thread each); what the session's end stops
# resumes next session if the work directory survives.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTEROP_THREADS=1
W="$HOME/campaigns/cifar"
run() {  # run <cores> <threads> <index>
  echo "$(date -u +%FT%TZ) start fig9 run $3 (src9, cores $1)"
  (cd "$HOME/campaigns/src9" && TF_NUM_INTRAOP_THREADS=$2 taskset -c "$1" \
    python -m apps.reproduce --figure=fig9 --scale=cifar --workdir="$W" \
    --run_index="$3") \
    || { rc=$?; echo "$(date -u +%FT%TZ) fig9 run $3 exited $rc"; exit 1; }
  echo "$(date -u +%FT%TZ) done fig9 run $3"
}
(run 0 1 6 && run 0 1 7) & (run 1 1 8 && run 1 1 9) & wait
run 0,1 2 11 && run 0,1 2 10
