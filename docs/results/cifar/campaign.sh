#!/usr/bin/env bash
# CIFAR-10 campaign (issue 15), from 2026-11-29: Fig. 9 from de1fdeb
# (~/campaigns/src6, where it started), everything after it from 30b781b
# (~/campaigns/src7: Fig. 12 with three seeds at its centre, grids reuse it;
# replaced before it ran by ~/campaigns/src8 = eabb29d: Fig. 5 reuses the
# ResNet-8 Full and Chans runs of Fig. 2, resumed epochs time right).
# (run_cifar8.sh: run_cifar7.sh with the exit status logged right.)
# One core (taskset -c 1), one TF thread; sequential; re-running resumes.
# Fig. 8 is done (docs/results/cifar/fig8); its models went with the old
# work directory, so fig2 retrains the ResNet-8s.
set -u
export SPATIALMIX_DATA_DIR=/work/shared/data TF_CPP_MIN_LOG_LEVEL=2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
run() {  # run <worktree> <figure>
  echo "$(date -u +%FT%TZ) start $2 ($1)"
  (cd "$HOME/campaigns/$1" && taskset -c 1 python -m apps.reproduce \
    --figure="$2" --scale=cifar --workdir="$HOME/campaigns/cifar") \
    || { rc=$?; echo "$(date -u +%FT%TZ) $2 exited $rc"; exit 1; }
  echo "$(date -u +%FT%TZ) done $2"
}
run src6 fig9
for fig in fig12 fig10_11_13 fig5 fig4 fig7 fig2; do run src8 "$fig"; done
