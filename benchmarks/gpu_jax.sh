#!/usr/bin/env bash
# The GPU checks on a machine without TensorFlow, through Keras' JAX
# backend, within one time budget (one command of at most SECONDS).
#
#   bash benchmarks/gpu_jax.sh OUT_DIR DATA_NPZ [SECONDS]
#
# Each step is bounded by what is left of SECONDS (default 480), so a slow
# step costs the later ones, never the results already written. Every JSON
# goes to OUT_DIR/results.tgz, re-packed after each step (three files come
# back in all: log.txt, results.tgz, models.tgz). In order:
#   1. the GPU (nvidia-smi), the versions, the host-to-device copy rate;
#   2. benchmarks.train_throughput, float32 and mixed_bfloat16: ConvMixer-256/8
#      (k 5, p 2) and the separable ResNet-20, ours in every mode against the
#      stock-layer network (the ResNet also uncomposed and standard-conv);
#   3. model.fit without augmentation, 3 epochs of float32 ConvMixer, batches
#      copied from host memory and sliced on the GPU: on 2026-11-30 fit (host
#      memory, augmented) ran 40x slower than the bare step;
#   4. benchmarks.precision_training: both networks, Chans, float32 /
#      mixed_bfloat16 / mixed_float16, same seed and data (kept on the GPU);
#      the models and their predictions go to models.tgz, to be scored on a
#      CPU under TensorFlow (`--evaluate`).
# Measured on an H200: benchmarks/README.md.
set -u
out=$1 data=$2 budget=${3:-480}
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }
log="$out/log.txt" json=/tmp/gpu_json models=/tmp/gpu_models
mkdir -p "$json" "$models"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
  > "$log" 2>&1
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), \
'keras', keras.__version__)" >> "$log" 2>&1 || { cat "$log"; exit 1; }
# Host-to-device copies: fit feeds every batch from host memory (6 MB per
# float32 batch of 512), the throughput benchmark one batch kept on the GPU.
python3 -c "
import time, jax, numpy as np
a = np.ones(64 << 20, np.uint8)
jax.device_put(a).block_until_ready()
s = time.perf_counter()
for _ in range(5): jax.device_put(a).block_until_ready()
print('host to device: %.0f MB/s' % (5 * 64 * 1.048576 / (time.perf_counter() - s)))
" >> "$log" 2>&1
step() {  # step NAME JSON_FILE MODULE ARGS...: bounded by the budget
  local name=$1 file=$2 rc
  shift 2
  if [ "$(left)" -lt 30 ]; then echo "skipped $name (no time left)" >> "$log"
    return; fi
  timeout "$(left)" python3 -m "$@" > "$json/$file" 2>> "$log"
  rc=$?
  echo "$(date -u +%T) $name rc=$rc, $(( $(date +%s) - start )) s" >> "$log"
  tar czf "$out/results.tgz" -C "$json" .
}
for net in convmixer_256_8_k5 resnet20; do
  for precision in float32 mixed_bfloat16; do
    step "throughput $net $precision" "throughput_${net}_${precision}.json" \
      benchmarks.train_throughput --networks="$net" --precision="$precision" \
      --batch_size=512 --windows=3 --steps=5 --matmul_size=4096
  done
done
for feed in nodata_on_device data_on_device; do
  step "fit without augmentation, --$feed" "fit_noaugment_$feed.json" \
    benchmarks.precision_training --data="$data" \
    --networks=convmixer_256_8_k5 --precisions=float32 --epochs=3 \
    --noaugment --"$feed"
done
for net in convmixer_256_8_k5 resnet20; do
  # --output: a run stopped by the budget keeps the models it finished.
  step "precision $net" "precision_$net.stdout" \
    benchmarks.precision_training --data="$data" --networks="$net" \
    --epochs=10 --data_on_device --save_dir="$models" \
    --output="$json/precision_$net.json"
  tar czf "$out/models.tgz" -C "$models" .
done
grep -v "^W0000\|^I0000" "$log" | tail -40
