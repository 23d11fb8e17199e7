"""Does the input pipeline outrun training? (target: >= 5x)

Measures, in one process: images/s delivered by the training pipeline of each
recipe (ResNet: pad-4 crop + flip; ConvMixer: flip + RandAugment, one batch
at a time as by default and in parallel, and with MixUp/CutMix +
RandomErasing on), and images/s consumed by a training step of
the recipe's model (`resnet20` Chans, `convmixer_128_8` Chans) at the same
batch size. Prints JSON with the ratio pipeline / training.

    SPATIALMIX_DATA_DIR=../shared/data python -m benchmarks.input_pipeline
"""

import time

from absl import app, flags

from benchmarks import common
from spatialmix_keras import data, datasets, get_model, schema

_BATCH = flags.DEFINE_integer("batch_size", 128, "Images per batch.")
_BATCHES = flags.DEFINE_integer("batches", 40, "Pipeline batches to time.")
_DATASET = flags.DEFINE_string("dataset", "cifar10", "Dataset.")
_SMALL = flags.DEFINE_bool("small", True, "Use <dataset>_small.npz.")

RECIPES = {
    "resnet": (schema.augment_config(crop_padding=4, flip=True), "resnet20"),
    "convmixer": (
        schema.augment_config(flip=True, rand_augment=True),
        "convmixer_128_8",
    ),
    # The same recipe with `parallel=True`: faster, but not reproducible.
    "convmixer_parallel": (
        schema.augment_config(flip=True, rand_augment=True, parallel=True),
        "convmixer_128_8",
    ),
    "convmixer_mix_erase": (
        schema.augment_config(
            flip=True,
            rand_augment=True,
            mixup_alpha=0.8,
            cutmix_alpha=1.0,
            erasing_prob=0.25,
        ),
        "convmixer_128_8",
    ),
}


def pipeline_images_per_s(augment):
    ds, _ = data.input_pipeline(
        _DATASET.value,
        "train",
        _BATCH.value,
        training=True,
        augment=augment,
        seed=0,
        small=_SMALL.value,
    )
    ds = ds.repeat()
    iterator = iter(ds)
    for _ in range(3):  # warm-up: tracing, shuffle buffer fill
        next(iterator)
    start = time.perf_counter()
    for _ in range(_BATCHES.value):
        next(iterator)
    return _BATCHES.value * _BATCH.value / (time.perf_counter() - start)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    info = datasets.dataset_info(_DATASET.value)
    batch = common.random_batch(_BATCH.value, info.image_shape)
    results, train_speed = {}, {}
    for name, (augment, model_name) in RECIPES.items():
        if model_name not in train_speed:
            model = common.compile_for_training(
                get_model(
                    model_name,
                    freeze="spatial",
                    input_shape=info.image_shape,
                    seed=0,
                )
            )
            seconds = common.interleaved_step_times(
                {"m": model}, batch, windows=3, steps=2
            )["m"]
            train_speed[model_name] = _BATCH.value / seconds
        pipeline = pipeline_images_per_s(augment)
        results[name] = {
            "pipeline_images_per_s": pipeline,
            "model": model_name,
            "train_images_per_s": train_speed[model_name],
            "pipeline_over_training": pipeline / train_speed[model_name],
        }
    common.emit(
        {
            "benchmark": "input_pipeline",
            "batch_size": _BATCH.value,
            "dataset": _DATASET.value,
            "machine": common.machine(),
            "results": results,
        }
    )


if __name__ == "__main__":
    app.run(main)
