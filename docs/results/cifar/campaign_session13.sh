#!/usr/bin/env bash
# Session 13 (2026-12-02): the work directory was lost with its machine again;
# Fig. 9's two missing runs first (seed 2, sigma 1 and 2), from de1fdeb (src6).
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
for i in 10 11; do
  echo "$(date -u +%FT%TZ) start fig9 run $i (src6)"
  (cd "$HOME/campaigns/src6" && taskset -c 1 python -m apps.reproduce \
    --figure=fig9 --scale=cifar --workdir="$HOME/campaigns/cifar" --run_index=$i) \
    || { rc=$?; echo "$(date -u +%FT%TZ) fig9 run $i exited $rc"; exit 1; }
  echo "$(date -u +%FT%TZ) done fig9 run $i"
done
