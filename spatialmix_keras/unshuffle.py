"""Pixel un-shuffling (paper section 4.4, Figs. 10 to 13).

A fixed, seeded permutation moves every pixel (all its channels together) to
another position, the same for every image; a patch-size-1 ConvMixer with a
1x1 projection head (`convmixer_unshuffler`) learns to put them back, trained
with the MSE objective of section 4.4:

    min_theta 1/n sum_i || x_i - F(sigma(x_i); theta) ||^2

The permutation is saved with every export (`permutation.json`), so later
evaluation uses the very same one, and a dataset whose image shape differs
from it is refused.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import ml_collections
import numpy as np
import tensorflow as tf

from spatialmix_keras import data, datasets, files, models, progress
from spatialmix_keras import initializers as fixed_initializers
from spatialmix_keras.schema import unshuffle_config

PERMUTATION_FILE = "permutation.json"


@dataclasses.dataclass(frozen=True)
class Permutation:
    """A fixed permutation of the pixel positions of `(height, width)` images.

    Output position `i` (row-major) takes the pixel at input position
    `indices[i]`; the same indices serve every image and every channel.
    """

    height: int
    width: int
    seed: int
    indices: tuple[int, ...]

    @classmethod
    def from_seed(cls, height: int, width: int, seed: int) -> Permutation:
        """The permutation NumPy's `default_rng(seed)` draws: the same seed
        gives the same permutation in any process, on any machine."""
        for name, value in (("height", height), ("width", width)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or (value < 1)
            ):
                raise ValueError(
                    f"Invalid value for argument `{name}`. Expected an "
                    f"integer >= 1. Received: {name}={value!r}"
                )
        indices = np.random.default_rng(seed).permutation(height * width)
        return cls(height, width, int(seed), tuple(int(i) for i in indices))

    @property
    def inverse(self) -> np.ndarray:
        return np.argsort(np.asarray(self.indices))

    def apply(self, images):
        """Shuffles `(N, H, W, C)` images (NumPy or tensors) with `indices`."""
        return self._gather(images, np.asarray(self.indices))

    def invert(self, images):
        """Undoes `apply` exactly."""
        return self._gather(images, self.inverse)

    def _gather(self, images, order):
        images = tf.convert_to_tensor(images)
        self.check_shape(tuple(images.shape[1:3]))
        channels = images.shape[-1]
        flat = tf.reshape(images, (-1, self.height * self.width, channels))
        flat = tf.gather(flat, order, axis=1)
        return tf.reshape(flat, (-1, self.height, self.width, channels))

    def check_shape(self, shape) -> None:
        if tuple(shape) != (self.height, self.width):
            raise ValueError(
                f"The images are {tuple(shape)} pixels, but the stored "
                f"permutation shuffles {(self.height, self.width)} images "
                f"(seed {self.seed}). Evaluate with the dataset and image "
                "size the model was trained on."
            )

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"indices": list(self.indices)}

    @classmethod
    def from_json(cls, payload: dict) -> Permutation:
        indices = tuple(int(i) for i in payload["indices"])
        height, width = int(payload["height"]), int(payload["width"])
        if sorted(indices) != list(range(height * width)):
            raise ValueError(
                f"The stored permutation is not a permutation of "
                f"{height * width} positions."
            )
        return cls(height, width, int(payload["seed"]), indices)

    @classmethod
    def load(cls, export_path: str) -> Permutation:
        path = os.path.join(export_path, PERMUTATION_FILE)
        if not os.path.isfile(path):
            raise ValueError(
                f"{export_path} has no {PERMUTATION_FILE}: it is not an "
                "un-shuffler export."
            )
        return cls.from_json(files.read_json(path, dict))


def psnr(y_true, y_pred):
    """Per-image PSNR in dB of [0, 1] images: 10 log10(1 / MSE).

    Predictions are clipped to [0, 1] first (as an image is shown); the MSE
    is over all pixels and channels of each image, floored at 1e-10.
    """
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), 0.0, 1.0)
    mse = tf.reduce_mean(tf.square(y_true - y_pred), axis=[1, 2, 3])
    return 10.0 * tf.math.log(1.0 / tf.maximum(mse, 1e-10)) / tf.math.log(10.0)


@keras.saving.register_keras_serializable(package="spatialmix_keras")
class PSNR(keras.metrics.MeanMetricWrapper):
    """Mean per-image PSNR (dB) of [0, 1] images, as a Keras metric.

    Example:

    >>> m = PSNR()
    >>> m.update_state(np.zeros((2, 4, 4, 1)), np.full((2, 4, 4, 1), 0.1))
    >>> round(float(m.result()), 3)
    20.0
    """

    def __init__(self, name="psnr", dtype=None):
        super().__init__(psnr, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def image_shape(config) -> tuple[int, int, int]:
    """The (possibly downsampled) image shape the config trains on."""
    height, width, channels = datasets.dataset_info(config.dataset).image_shape
    size = config.unshuffle.image_size
    if size:
        return (size, size, channels)
    return (height, width, channels)


def pipeline(
    config,
    split: str,
    batch_size: int,
    training: bool,
    permutation: Permutation,
    max_examples: int | None = None,
    seed: int = 0,
):
    """`(shuffled, original)` float [0, 1] image batches, and their count.

    Images are area-downsampled to `config.unshuffle.image_size` when it is
    set (28 -> 14 averages 2x2 blocks exactly).
    """
    ds, count = data.input_pipeline(
        config.dataset,
        split,
        batch_size,
        training=False,
        data_dir=config.data_dir,
        small=config.small,
        tfds_data_dir=config.tfds_data_dir,
        max_examples=max_examples,
    )
    if training and batch_size > count:
        raise ValueError(
            f"Invalid value for argument `batch_size`: {batch_size} exceeds "
            f"the {count} training examples of {config.dataset!r}."
        )
    shape = image_shape(config)
    permutation.check_shape(shape[:2])
    order = np.asarray(permutation.indices)

    def to_pair(images, labels):
        if images.shape[1:3] != shape[:2]:
            images = tf.image.resize(images, shape[:2], method="area")
        flat = tf.reshape(images, (-1, shape[0] * shape[1], shape[2]))
        shuffled = tf.reshape(tf.gather(flat, order, axis=1), tf.shape(images))
        return shuffled, images

    ds = ds.unbatch()
    if training:
        ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=training).map(
        to_pair, num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.prefetch(tf.data.AUTOTUNE), count


class UnshuffleTask:
    """Reconstruct images from their pixel-shuffled versions (MSE, PSNR)."""

    metric = "psnr"

    def __init__(self, config):
        shape = image_shape(config)
        self.permutation = Permutation.from_seed(
            shape[0], shape[1], config.unshuffle.permutation_seed
        )

    def validate(self, config):
        if not config.model.name.startswith("unshuffler"):
            choices = tuple(
                m for m in models.VARIANTS if m.startswith("unshuffler")
            )
            raise ValueError(
                "Invalid value for argument `model.name`. Un-shuffling needs "
                f"an un-shuffler {choices}. Received: model.name="
                f"{config.model.name!r}"
            )

    def train_dataset(self, config, global_batch, epoch):
        return pipeline(
            config,
            "train",
            global_batch,
            True,
            self.permutation,
            seed=data.epoch_seed(config.seed, epoch),
        )

    def test_dataset(self, config, global_batch):
        return pipeline(
            config,
            "test",
            global_batch,
            False,
            self.permutation,
            config.test_examples,
        )

    def build_model(self, config):
        return models.build(
            config.model,
            freeze=config.freeze,
            spatial_initializer=fixed_initializers.from_config(config),
            input_shape=image_shape(config),
            seed=config.seed,
        )

    def train_terms(self, targets, outputs):
        mse = tf.reduce_mean(tf.square(targets - outputs), axis=[1, 2, 3])
        return mse, psnr(targets, outputs)

    eval_terms = train_terms

    def export_files(self, config) -> dict:
        return {PERMUTATION_FILE: self.permutation.to_json()}

    def write_summaries(self, model, test_ds, step):
        count = 4
        for shuffled, original in test_ds.take(1):
            shuffled, original = shuffled[:count], original[:count]
            reconstruction = tf.clip_by_value(
                model(shuffled, training=False), 0.0, 1.0
            )
            tf.summary.image(
                "unshuffle/shuffled", shuffled, step=step, max_outputs=count
            )
            tf.summary.image(
                "unshuffle/reconstruction",
                reconstruction,
                step=step,
                max_outputs=count,
            )
            tf.summary.image(
                "unshuffle/original", original, step=step, max_outputs=count
            )


def baselines(test_ds, train_mean) -> dict:
    """Test PSNR of the shuffled input itself and of the mean image."""
    shuffled_psnr, mean_psnr, count = 0.0, 0.0, 0
    for shuffled, original in test_ds:
        mean = tf.broadcast_to(train_mean, tf.shape(original))
        shuffled_psnr += float(tf.reduce_sum(psnr(original, shuffled)))
        mean_psnr += float(tf.reduce_sum(psnr(original, mean)))
        count += int(original.shape[0])
    return {
        "shuffled_psnr": shuffled_psnr / count,
        "mean_image_psnr": mean_psnr / count,
    }


def load_export(path: str):
    """An un-shuffler export: `(LoadedModel, Permutation, config dict)`."""
    from spatialmix_keras import export

    permutation = Permutation.load(path)
    config = files.read_json(
        os.path.join(path, "config.json"), dict, keys=("dataset", "unshuffle")
    )
    model = export.load_for_eval(path)
    return model, permutation, config


def config_for_export(
    export_config: dict, data_dir=None, small=False, tfds_data_dir=None
) -> ml_collections.ConfigDict:
    """The config an export was trained with, pointed at local data."""
    config = unshuffle_config()
    config.dataset = export_config["dataset"]
    config.unshuffle.image_size = export_config["unshuffle"]["image_size"]
    config.data_dir = data_dir
    config.small = small
    config.tfds_data_dir = tfds_data_dir
    return config


def evaluate(model, test_ds, progress_label: str | None = None) -> dict:
    """Mean test PSNR and MSE of an un-shuffler over a split (with progress
    under `progress_label`, if given)."""
    total_psnr, total_mse, count = 0.0, 0.0, 0
    predict = tf.function(model, reduce_retracing=True)
    for shuffled, original in progress.over_batches(test_ds, progress_label):
        reconstruction = tf.cast(predict(shuffled), tf.float32)
        total_psnr += float(tf.reduce_sum(psnr(original, reconstruction)))
        total_mse += float(
            tf.reduce_sum(
                tf.reduce_mean(
                    tf.square(original - reconstruction), axis=[1, 2, 3]
                )
            )
        )
        count += int(original.shape[0])
    return {
        "psnr": total_psnr / count,
        "mse": total_mse / count,
        "examples": count,
    }


def sample_images(test_ds, count: int, seed: int):
    """`count` randomly chosen test pairs (shuffled, original), seeded."""
    shuffled, original = [], []
    for s, o in test_ds:
        shuffled.append(s.numpy())
        original.append(o.numpy())
    shuffled, original = np.concatenate(shuffled), np.concatenate(original)
    pick = np.random.default_rng(seed).choice(
        len(original), count, replace=False
    )
    return shuffled[pick], original[pick]


def train_mean_image(config, permutation) -> np.ndarray:
    """The mean training image: the best constant prediction under MSE."""
    total, count = 0.0, 0
    train_ds, _ = pipeline(config, "train", 512, False, permutation)
    for _, original in train_ds:
        total = total + tf.reduce_sum(original, axis=0)
        count += int(original.shape[0])
    return (total / count).numpy()[None]
