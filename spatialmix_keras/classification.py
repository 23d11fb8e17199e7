"""Image classification: the task `train_and_evaluate` runs by default.

A task tells the training loop what is learnt: its datasets, its model, its
per-example loss and metric, and any files and summaries of its own
(`spatialmix_keras.unshuffle.UnshuffleTask` is the other one).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from spatialmix_keras import data, datasets, models
from spatialmix_keras import initializers as fixed_initializers


def build_model(config, info=None):
    """The configured model for the configured dataset."""
    info = info or datasets.dataset_info(config.dataset)
    return models.build(
        config.model,
        freeze=config.freeze,
        spatial_initializer=fixed_initializers.from_config(config),
        input_shape=info.image_shape,
        seed=config.seed,
        num_classes=info.num_classes,
        mean=info.mean,
        std=info.std,
    )


class ClassificationTask:
    """Image classification: cross-entropy on logits, accuracy."""

    metric = "accuracy"

    def validate(self, config):
        if config.model.name.startswith("unshuffler"):
            raise ValueError(
                f"Model {config.model.name!r} is an un-shuffler, not a "
                "classifier: train it with `python -m apps.unshuffle`."
            )

    def train_dataset(self, config, global_batch, epoch):
        """`(dataset, num_examples)` of the training split, batched
        globally; its order and augmentation are seeded by the epoch."""
        return data.input_pipeline(
            config.dataset,
            "train",
            global_batch,
            training=True,
            augment=config.augment,
            seed=data.epoch_seed(config.seed, epoch),
            data_dir=config.data_dir,
            small=config.small,
            tfds_data_dir=config.tfds_data_dir,
        )

    def test_dataset(self, config, global_batch):
        """`(dataset, num_examples)` of the test split, in order."""
        return data.input_pipeline(
            config.dataset,
            "test",
            global_batch,
            training=False,
            data_dir=config.data_dir,
            small=config.small,
            tfds_data_dir=config.tfds_data_dir,
            max_examples=config.test_examples,
        )

    def build_model(self, config):
        return build_model(config)

    def train_terms(self, targets, outputs):
        """Per-example loss and metric on a training batch (one-hot)."""
        loss = keras.losses.categorical_crossentropy(
            targets, outputs, from_logits=True
        )
        correct = tf.cast(
            tf.argmax(outputs, -1) == tf.argmax(targets, -1), tf.float32
        )
        return loss, correct

    def eval_terms(self, targets, outputs):
        """Per-example loss and metric on an evaluation batch (int ids)."""
        loss = keras.losses.sparse_categorical_crossentropy(
            targets, outputs, from_logits=True
        )
        correct = tf.cast(
            tf.argmax(outputs, -1, output_type=tf.int32)
            == tf.cast(targets, tf.int32),
            tf.float32,
        )
        return loss, correct

    def export_files(self, config) -> dict:
        return {}

    def write_summaries(self, model, test_ds, step):
        """Extra TensorBoard summaries, called inside the writer."""
