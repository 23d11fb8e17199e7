r"""Short CIFAR-10 training in each precision, side by side, on any backend.

Does a network train under `mixed_bfloat16` and `mixed_float16` without NaN
and reach its float32 accuracy within noise? One model per precision, each
with the same seed, initial weights, data order and augmentation (random
zero-filled shifts of up to 4 pixels, as a pad-4 crop, and horizontal flips:
Keras layers in the training graph),
trained by `model.fit` on in-memory arrays. No TensorFlow input pipeline:
this runs on the JAX backend of a GPU machine that has no TensorFlow. AdamW
(weight decay 5e-3) with ConvMixer's one-cycle schedule
(`schedules.make_schedule`), gradients clipped to norm 1.

Reports per precision: every epoch's loss (all finite?), test accuracy with
a 95% interval, the paired difference against float32 on the same test
images with its 95% interval, seconds and images/s per epoch (the first
includes compiling), and whether every frozen kernel stayed bit-identical
while every trained one moved. `--save_dir` keeps each model (`.keras`) and
its test predictions (`.npy`), so another machine can score the model with
`--evaluate` and count the test images where its predictions differ: a model
trained on a GPU under JAX, scored on a CPU under TensorFlow.

    KERAS_BACKEND=jax python -m benchmarks.precision_training \
        --data=cifar10_10k.npz --networks=convmixer_256_8_k5 --epochs=10 \
        --save_dir=/tmp/precision
    python -m benchmarks.precision_training --data=cifar10_10k.npz \
        --evaluate=/tmp/precision/convmixer_256_8_k5_spatial_float32.keras

The data file holds `x_train`, `y_train`, `x_test`, `y_test` (uint8 images,
as the npz files in the shared data folder). Measured on an H200 under JAX:
benchmarks/README.md.
"""

from __future__ import annotations

import math
import os
import time

import keras
import ml_collections
import numpy as np
from absl import app, flags, logging

from benchmarks import common
from spatialmix_keras import files, get_model, schedules
from spatialmix_keras.models import VARIANTS
from spatialmix_keras.vocabulary import FREEZE_MODES

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

_DATA = flags.DEFINE_string("data", None, "npz with x/y_train, x/y_test.")
_NETWORKS = flags.DEFINE_list(
    "networks",
    ["convmixer_256_8_k5"],
    f"Any of {', '.join(common.NETWORKS)}, or a model variant "
    "(`spatialmix_keras.models.VARIANTS`) as it is.",
)
_PRECISIONS = flags.DEFINE_list(
    "precisions", list(PRECISIONS), f"Keras dtype policies: {PRECISIONS}."
)
_FREEZE = flags.DEFINE_enum(
    "freeze", "spatial", list(FREEZE_MODES), "Freeze mode."
)
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Epochs per model.")
_BATCH = flags.DEFINE_integer("batch_size", 512, "Images per step.")
_LR = flags.DEFINE_float("learning_rate", 0.01, "Peak learning rate.")
_TRAIN_IMAGES = flags.DEFINE_integer(
    "train_images", None, "Use the first N training images (all if unset)."
)
_SEED = flags.DEFINE_integer("seed", 0, "Weights, data order, augmentation.")
_SAVE_DIR = flags.DEFINE_string(
    "save_dir", None, "Write each model (.keras) and its predictions here."
)
_AUGMENT = flags.DEFINE_bool(
    "augment", True, "Random shifts and flips (off: time the bare fit)."
)
_ON_DEVICE = flags.DEFINE_bool(
    "data_on_device",
    False,
    "Put the training arrays on the accelerator once (backend tensors), so "
    "that fit slices batches there instead of copying each from host memory.",
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Also write the JSON here, after every model."
)
_EVALUATE = flags.DEFINE_list(
    "evaluate", None, "Score these saved models on the test set instead."
)


def _arrays(path, train_images):
    with np.load(path) as data:
        x_train, y_train = data["x_train"], data["y_train"]
        x_test, y_test = data["x_test"], data["y_test"]
    if train_images is not None:
        x_train, y_train = x_train[:train_images], y_train[:train_images]
    scale = lambda x: x.astype("float32") / 255.0  # noqa: E731
    return (
        (scale(x_train), y_train.astype("int32")),
        (scale(x_test), y_test.astype("int32")),
    )


def interval(correct):
    """Mean of a 0/1 (or paired -1/0/1) vector and its 95% half-width."""
    correct = np.asarray(correct, "float64")
    half = 1.96 * correct.std(ddof=1) / math.sqrt(len(correct))
    return float(correct.mean()), float(half)


def _kernels(model):
    return {
        w.path: (keras.ops.convert_to_numpy(w), w.trainable)
        for w in model.weights
        if "kernel" in w.path
    }


def weight_check(before, after):
    """Counts of frozen kernels left bit-identical and trained ones moved."""
    frozen = [p for p, (_, trainable) in before.items() if not trainable]
    trained = [p for p, (_, trainable) in before.items() if trainable]
    same = lambda p: np.array_equal(before[p][0], after[p][0])  # noqa: E731
    return {
        "frozen_kernels": len(frozen),
        "frozen_unchanged": sum(same(p) for p in frozen),
        "trained_kernels": len(trained),
        "trained_moved": sum(not same(p) for p in trained),
    }


class _EpochClock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)
        logging.info(
            "epoch %d: loss %.4f, %.1f s",
            epoch + 1,
            logs["loss"],
            self.seconds[-1],
        )


def _train(network, precision, train, test):
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(_SEED.value)
    variant, overrides, _ = common.NETWORKS.get(network, (network, {}, None))
    x_train, y_train = train
    shape = x_train.shape[1:]
    model = get_model(
        variant,
        freeze=_FREEZE.value,
        seed=_SEED.value,
        mean=x_train.mean(axis=(0, 1, 2)).tolist(),
        std=x_train.std(axis=(0, 1, 2)).tolist(),
        **overrides,
    )
    # Zero-filled shifts of up to 4 pixels: torchvision's pad-4 random crop,
    # drawn per image. (Keras' RandomCrop crops a whole batch at one place,
    # and under JAX its symbolic build skips the crop of a padded input.)
    augment = keras.Sequential(
        [
            keras.layers.RandomTranslation(
                4 / shape[0],
                4 / shape[1],
                fill_mode="constant",
                interpolation="nearest",
                seed=_SEED.value,
            ),
            keras.layers.RandomFlip("horizontal", seed=_SEED.value + 1),
        ],
        name="augment",
    )
    inputs = keras.Input(shape)
    # The trainer only trains: evaluation calls `model` itself.
    augmented = augment(inputs) if _AUGMENT.value else inputs
    trainer = keras.Model(inputs, model(augmented))
    steps_per_epoch = math.ceil(len(x_train) / _BATCH.value)
    total = steps_per_epoch * _EPOCHS.value
    schedule = schedules.make_schedule(
        ml_collections.ConfigDict({"name": "onecycle"}),
        _LR.value,
        total,
        steps_per_epoch,
    )
    trainer.compile(
        optimizer=keras.optimizers.AdamW(
            schedule, weight_decay=5e-3, global_clipnorm=1.0
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = _kernels(model)
    clock = _EpochClock()
    if _ON_DEVICE.value:
        x_train = keras.ops.convert_to_tensor(x_train)
        y_train = keras.ops.convert_to_tensor(y_train)
    history = trainer.fit(
        x_train,
        y_train,
        batch_size=_BATCH.value,
        epochs=_EPOCHS.value,
        shuffle=True,
        callbacks=[clock],
        verbose=0,
    )
    x_test, y_test = test
    logits = model.predict(x_test, batch_size=1000, verbose=0)
    predictions = np.argmax(np.asarray(logits, "float32"), axis=-1)
    losses = [float(v) for v in history.history["loss"]]
    result = {
        "losses": losses,
        "all_finite": bool(np.all(np.isfinite(losses))),
        "correct": predictions == y_test,
        "predictions": predictions,
        "epoch_seconds": clock.seconds,
        "images_per_s_after_first_epoch": len(x_train)
        * (len(clock.seconds) - 1)
        / max(sum(clock.seconds[1:]), 1e-9),
        "weights": weight_check(before, _kernels(model)),
        "compute_dtype": model.compute_dtype,
    }
    if _SAVE_DIR.value:
        name = f"{network}_{_FREEZE.value}_{precision}"
        os.makedirs(_SAVE_DIR.value, exist_ok=True)
        model.save(os.path.join(_SAVE_DIR.value, f"{name}.keras"))
        np.save(os.path.join(_SAVE_DIR.value, f"{name}.npy"), predictions)
        result["saved"] = f"{name}.keras"
    return result


def _evaluate(paths, test):
    import spatialmix_keras

    spatialmix_keras.register()  # the custom layers, for loading

    x_test, y_test = test
    scores = {}
    for path in paths:
        model = keras.models.load_model(path)
        logits = model.predict(x_test, batch_size=500, verbose=0)
        predictions = np.argmax(np.asarray(logits, "float32"), axis=-1)
        accuracy, half = interval(predictions == y_test)
        scores[path] = {"accuracy": accuracy, "interval_95": half}
        saved = path[: -len(".keras")] + ".npy"
        if os.path.exists(saved):
            scores[path]["predictions_differ"] = int(
                np.sum(np.load(saved) != predictions)
            )
    return scores


def _rows(runs):
    """Each precision's row: accuracy and interval, and against float32."""
    reference = runs.get("float32")
    rows = {}
    for precision, run in runs.items():
        accuracy, half = interval(run["correct"])
        row = {
            k: v for k, v in run.items() if k not in ("correct", "predictions")
        }
        row.update(test_accuracy=accuracy, interval_95=half)
        if reference is not None and precision != "float32":
            paired = run["correct"].astype(int) - reference["correct"]
            difference, width = interval(paired)
            row["minus_float32"] = difference
            row["minus_float32_interval_95"] = width
            row["predictions_differ_from_float32"] = int(
                np.sum(run["predictions"] != reference["predictions"])
            )
        rows[precision] = row
    return rows


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not _DATA.value or not os.path.isfile(_DATA.value):
        raise app.UsageError(
            f"Flag `--data` must name an npz file. Received: {_DATA.value!r}"
        )
    for name, values, allowed in (
        ("networks", _NETWORKS.value, {**common.NETWORKS, **VARIANTS}),
        ("precisions", _PRECISIONS.value, PRECISIONS),
    ):
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise app.UsageError(
                f"Invalid value for flag `--{name}`. Expected names from "
                f"{list(allowed)}. Received: {unknown}"
            )
    train, test = _arrays(_DATA.value, _TRAIN_IMAGES.value)
    if _EVALUATE.value:
        common.emit(
            {
                "benchmark": "precision_training.evaluate",
                "machine": common.machine(),
                "test_images": len(test[1]),
                "models": _evaluate(_EVALUATE.value, test),
            }
        )
        return
    payload = {
        "benchmark": "precision_training",
        "data": os.path.basename(_DATA.value),
        "train_images": len(train[1]),
        "test_images": len(test[1]),
        "epochs": _EPOCHS.value,
        "batch_size": _BATCH.value,
        "learning_rate": _LR.value,
        "augment": _AUGMENT.value,
        "data_on_device": _ON_DEVICE.value,
        "freeze": _FREEZE.value,
        "seed": _SEED.value,
        "machine": common.machine(),
        "results": {},
    }
    for network in _NETWORKS.value:
        runs = {}
        for precision in _PRECISIONS.value:
            runs[precision] = _train(network, precision, train, test)
            payload["results"][network] = _rows(runs)
            if _OUTPUT.value:
                # After every model: a run stopped by a time limit keeps
                # what it finished.
                files.write_json(_OUTPUT.value, payload)
    keras.mixed_precision.set_global_policy("float32")
    common.emit(payload)


if __name__ == "__main__":
    app.run(main)
