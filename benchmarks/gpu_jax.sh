#!/usr/bin/env bash
# The GPU checks of issue 18 on a machine without TensorFlow, through Keras'
# JAX backend, within one time budget (one call of the device tool).
#
#   bash benchmarks/gpu_jax.sh OUT_DIR DATA_NPZ [SECONDS]
#
# In order, each step bounded by what is left of SECONDS (default 480), so a
# slow step costs the later ones, never the results already written:
#   1. the GPU (nvidia-smi) and the versions;
#   2. benchmarks.precision_training: ConvMixer-256/8 (k 5, p 2) and the
#      separable ResNet-20, Chans, float32 / mixed_bfloat16 / mixed_float16,
#      same seed and data; the models and predictions go to models.tgz, to be
#      scored on a CPU under TensorFlow (`--evaluate`);
#   3. benchmarks.train_throughput in float32 and mixed_bfloat16, one JSON per
#      network and precision (ours in every mode, the stock-layer network,
#      for the ResNet the uncomposed network and the standard-conv ResNet).
# Results: benchmarks/README.md.
set -u
out=$1 data=$2 budget=${3:-480}
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }
log="$out/log.txt"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
  > "$log" 2>&1
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), \
'keras', keras.__version__)" >> "$log" 2>&1 || { cat "$log"; exit 1; }
step() {  # step NAME OUTFILE ARGS...: one benchmark, bounded by the budget
  local name=$1 file=$2 rc
  shift 2
  if [ "$(left)" -lt 30 ]; then echo "skipped $name (no time left)" >> "$log"
    return; fi
  timeout "$(left)" python3 -m "$@" > "$out/$file" 2>> "$log"
  rc=$?
  echo "$(date -u +%T) $name rc=$rc, $(( $(date +%s) - start )) s" >> "$log"
}
mkdir -p /tmp/precision
for net in convmixer_256_8_k5 resnet20; do
  step "precision $net" "precision_$net.json" benchmarks.precision_training \
    --data="$data" --networks="$net" --epochs=10 --save_dir=/tmp/precision
done
tar czf "$out/models.tgz" -C /tmp/precision .
for net in convmixer_256_8_k5 resnet20; do
  for precision in float32 mixed_bfloat16; do
    step "$net $precision" "throughput_${net}_${precision}.json" \
      benchmarks.train_throughput --networks="$net" --precision="$precision" \
      --batch_size=512 --windows=5 --steps=10 --matmul_size=4096
  done
done
grep -v "^W0000\|^I0000" "$log" | tail -40
