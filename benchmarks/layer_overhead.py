"""Do the package's layers cost anything over the stock layers they subclass?

Times a training step of `convmixer_256_8` (kernel 8, patch 2) built with
`SpatialDepthwiseConv2D` / `PointwiseConv2D` against the same network built
from stock `DepthwiseConv2D` / `Conv2D` (frozen with `trainable=False`), for
each freeze mode, interleaved in one process. Both use Keras' BatchNorm and
GELU here, so only the convolution classes differ; the package's fused
BatchNorm and GELU are measured by `benchmarks/train_throughput.py`. Prints
JSON; a ratio `ours_over_stock` near 1.0 means no overhead.

    python -m benchmarks.layer_overhead  # batch 128, ~3 min on 2 cores
    python -m benchmarks.layer_overhead --batch_size=32 --windows=3
"""

from absl import app, flags

from benchmarks import common
from spatialmix_keras import get_model
from spatialmix_keras.vocabulary import FREEZE_MODES

_BATCH = flags.DEFINE_integer("batch_size", 128, "Images per step.")
_WINDOWS = flags.DEFINE_integer("windows", 5, "Timed windows per model.")
_STEPS = flags.DEFINE_integer("steps", 3, "Steps per window.")
_FREEZES = flags.DEFINE_list(
    "freeze", list(FREEZE_MODES), "Freeze modes to time."
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    batch = common.random_batch(_BATCH.value, (32, 32, 3))
    results = {}
    for freeze in _FREEZES.value:
        model = get_model("convmixer_256_8", freeze=freeze, seed=0)
        candidates = {
            # Our convolution layers; Keras' BatchNorm and GELU, so that
            # only the layer classes differ (train_throughput times the rest).
            "ours": common.stock_clone(model, convs=False),
            "stock": common.stock_clone(model),
        }
        for model in candidates.values():
            common.compile_for_training(model)
        times = common.interleaved_step_times(
            candidates, batch, windows=_WINDOWS.value, steps=_STEPS.value
        )
        results[freeze] = {
            "ours_images_per_s": _BATCH.value / times["ours"],
            "stock_images_per_s": _BATCH.value / times["stock"],
            "ours_over_stock": times["stock"] / times["ours"],
        }
    common.emit(
        {
            "benchmark": "layer_overhead",
            "model": "convmixer_256_8 (dim 256, depth 8, kernel 8, patch 2)",
            "batch_size": _BATCH.value,
            "machine": common.machine(),
            "results": results,
        }
    )


if __name__ == "__main__":
    app.run(main)
