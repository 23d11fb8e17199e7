#!/usr/bin/env bash
# Session 14 (2026-12-03), Fig. 9 from d54bcac (src9): one FGSM sweep and one
# robustness study per seed. Seed 0 in two lanes (one core, one TF thread
# each), then lane B goes on alone (seed 1, seed 2) while lane A's core is
# left to the session. smooth_2.0_s2 (run 15) comes from src6 (de1fdeb,
# run_session14.sh), same work directory.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
W="$HOME/campaigns/cifar"
run() {  # run <core> <index>
  echo "$(date -u +%FT%TZ) start fig9 run $2 (src9, core $1)"
  (cd "$HOME/campaigns/src9" && taskset -c "$1" python -m apps.reproduce \
    --figure=fig9 --scale=cifar --workdir="$W" --run_index="$2") \
    || { rc=$?; echo "$(date -u +%FT%TZ) fig9 run $2 exited $rc"; exit 1; }
  echo "$(date -u +%FT%TZ) done fig9 run $2"
}
exported() { for n in "$@"; do [ -d "$W/smoothing/exports/$n" ] || return 1; done; }
lane_a() {
  run 0 0; run 0 1
  until exported smooth_1.0_s0 smooth_2.0_s0; do sleep 30; done
  run 0 4
}
lane_b() {
  while pgrep -f "run_session14.sh" >/dev/null; do sleep 20; done
  run 1 2; run 1 3
  until exported smooth_none_s0 smooth_0.5_s0; do sleep 30; done
  run 1 5
  for i in 6 7 8 9 10 11 12 13 14 15 16 17; do run 1 "$i"; done
}
lane_a & lane_b & wait
