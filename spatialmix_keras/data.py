"""The input pipeline: batches of float [0, 1] images for training and
evaluation, from the arrays of `datasets` (or TFDS' ImageNet).

Training pipelines shuffle per epoch from a seed (`epoch_seed`), crop each
image at its own offset (`random_crop`, as torchvision's `RandomCrop(32,
padding=4)`) and apply the batch augmentations of Keras 3's core
preprocessing layers; the same seed gives the same batches, and a resumed
epoch sees what the uninterrupted one did.
"""

from __future__ import annotations

import ml_collections
import numpy as np

from spatialmix_keras import datasets, schema


def epoch_seed(seed: int, epoch: int) -> int:
    """The data seed of one epoch: a resumed run sees, in every epoch, the
    same order and augmentation as an uninterrupted one."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def _augmenter(augment, image_shape, num_classes, seed):
    """Batch augmentation from Keras 3 core preprocessing layers.

    Returns `fn(images, onehot_labels, batch_index) -> (images, labels)` on
    float [0, 1] images, or None when nothing is switched on.
    """
    import keras
    import tensorflow as tf

    image_steps = []
    if augment.flip:
        image_steps.append(keras.layers.RandomFlip("horizontal", seed=seed + 1))
    if augment.rand_augment:
        image_steps.append(
            keras.layers.RandAugment(
                value_range=(0, 1),
                num_ops=augment.rand_augment_layers,
                factor=augment.rand_augment_magnitude,
                seed=seed + 2,
            )
        )
    mixers = []
    if augment.mixup_alpha:
        mixers.append(
            keras.layers.MixUp(alpha=augment.mixup_alpha, seed=seed + 3)
        )
    if augment.cutmix_alpha:
        mixers.append(
            keras.layers.CutMix(factor=augment.cutmix_alpha, seed=seed + 4)
        )
    erase = None
    if augment.erasing_prob:
        erase = keras.layers.RandomErasing(
            factor=augment.erasing_prob, value_range=(0, 1), seed=seed + 5
        )
    if not (image_steps or mixers or erase):
        return None

    def mix(images, labels, mixer):
        out = mixer({"images": images, "labels": labels})
        return out["images"], out["labels"]

    def apply(images, labels, batch_index):
        for step in image_steps:
            images = step(images)
        if len(mixers) == 1:
            images, labels = mix(images, labels, mixers[0])
        elif len(mixers) == 2:
            coin = tf.random.stateless_uniform(
                (), seed=tf.stack([tf.cast(batch_index, tf.int32), seed])
            )
            images, labels = tf.cond(
                coin < 0.5,
                lambda: mix(images, labels, mixers[0]),
                lambda: mix(images, labels, mixers[1]),
            )
        if erase is not None:
            images = erase(images)
        return tf.clip_by_value(images, 0.0, 1.0), labels

    return apply


def random_crop(image, padding: int, seed):
    """Pads one image with zeros and crops it back at a random offset.

    As torchvision's `RandomCrop(size, padding=padding)`: every offset in
    `0..2 * padding` on each axis is equally likely. Stateless: the same
    `seed` (shape `(2,)` integers) gives the same crop, so that a pipeline
    maps it over images with a seed of its own per image.

    Args:
        image: `(H, W, C)` tensor.
        padding: pixels of zeros added on every side.
        seed: `(2,)` int32/int64 tensor.

    Returns:
        A `(H, W, C)` tensor of the image's dtype.
    """
    import tensorflow as tf

    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    return tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed)


def _imagenet_images(dataset, training, seed, image_size=224):
    """Decoded ImageNet images: Inception crop and flip, or resize + centre."""
    import tensorflow as tf

    def train_map(index, example):
        image = example["image"]
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image),
            tf.zeros((1, 0, 4)),
            seed=tf.stack([tf.cast(index, tf.int32), seed]),
            area_range=(0.08, 1.0),
            aspect_ratio_range=(3 / 4, 4 / 3),
            min_object_covered=0.0,
            use_image_if_no_bounding_boxes=True,
        )
        image = tf.slice(image, begin, size)
        image = tf.image.resize(image, (image_size, image_size))
        return tf.cast(image, tf.float32) / 255.0, example["label"]

    def eval_map(example):
        image = example["image"]
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = 256.0 / tf.reduce_min(shape)
        image = tf.image.resize(image, tf.cast(shape * scale, tf.int32))
        image = tf.image.resize_with_crop_or_pad(image, image_size, image_size)
        return image / 255.0, example["label"]

    if training:
        return dataset.enumerate().map(
            train_map, num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.map(eval_map, num_parallel_calls=tf.data.AUTOTUNE)


def input_pipeline(
    dataset: str,
    split: str,
    batch_size: int,
    training: bool,
    augment: ml_collections.ConfigDict | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    small: bool = False,
    tfds_data_dir: str | None = None,
    max_examples: int | None = None,
):
    """A batched `tf.data.Dataset` of float [0, 1] images and labels.

    Training pipelines shuffle (reshuffling every epoch, from `seed`), drop
    the last partial batch, augment and yield one-hot (possibly mixed)
    labels; evaluation pipelines keep every example in order and yield int
    labels. Both prefetch. Data sharding for multi-worker runs is by example
    (`AutoShardPolicy.DATA`), since in-memory datasets have no files.

    `max_examples` keeps only the first examples of the split (quick
    evaluations).

    Returns:
        `(dataset, num_examples)`.
    """
    import tensorflow as tf

    info = datasets.dataset_info(dataset)
    if dataset in datasets.TFDS_ONLY:
        ds, num_examples = _tfds_images(
            dataset, split, training, seed, tfds_data_dir
        )
    else:
        ds, num_examples = _local_images(
            dataset, split, training, augment, seed, data_dir, small,
            tfds_data_dir,
        )  # fmt: skip
    if max_examples is not None and max_examples < num_examples:
        ds, num_examples = ds.take(max_examples), max_examples
    if training and batch_size > num_examples:
        raise ValueError(
            f"Invalid value for argument `batch_size`: {batch_size} exceeds "
            f"the {num_examples} training examples of {dataset!r}."
        )
    ds = ds.batch(
        batch_size, drop_remainder=training, num_parallel_calls=tf.data.AUTOTUNE
    )
    if training:
        ds = ds.map(lambda x, y: (x, tf.one_hot(y, info.num_classes)))
        ds = _augment_batches(
            ds, augment or schema.augment_config(), info, seed
        )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    options.deterministic = True
    # No autotuning thread: deleting an epoch's iterator waited for it, up
    # to its optimisation period (about 25 s between epochs of a 50 s
    # ResNet-8 epoch on one core). Parallel calls keep a fixed parallelism
    # (the cores, at most 16); the batches are the same.
    options.autotune.enabled = False
    # Nor may tf.data parallelise that map behind our back.
    options.experimental_optimization.map_parallelization = False
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE), num_examples


def _tfds_images(dataset, split, training, seed, tfds_data_dir):
    """`(dataset, num_examples)` of decoded ImageNet images from TFDS."""
    import tensorflow_datasets as tfds

    info = datasets.dataset_info(dataset)
    tfds_split = "validation" if split == "test" else split
    try:
        ds, tfds_info = tfds.load(
            info.tfds_name,
            split=tfds_split,
            data_dir=tfds_data_dir,
            download=False,
            with_info=True,
        )
    except Exception as error:
        raise datasets.DataNotFoundError(
            f"Cannot load {dataset!r} from TFDS ({error}). ImageNet needs "
            "a manual download: put the ILSVRC2012 tars in "
            "<tfds_data_dir>/downloads/manual, run `tfds build "
            "imagenet2012 --data_dir=<tfds_data_dir>`, then pass "
            "--tfds_data_dir."
        ) from error
    if training:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    num_examples = tfds_info.splits[tfds_split].num_examples
    return _imagenet_images(ds, training, seed), num_examples


def _local_images(
    dataset, split, training, augment, seed, data_dir, small, tfds_data_dir
):
    """`(dataset, num_examples)` of float [0, 1] images from the arrays,
    shuffled and cropped per image for training."""
    import tensorflow as tf

    images, labels = datasets.load_arrays(
        dataset, split, data_dir, small, tfds_data_dir
    )
    num_examples = len(images)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if training:
        ds = ds.shuffle(num_examples, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(
        lambda x, y: (tf.cast(x, tf.float32) / 255.0, y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    pad = int((augment or {}).get("crop_padding", 0)) if training else 0
    if pad:
        # Per image, at its own offset: the seed is (pipeline seed,
        # position in this epoch's shuffled order), so a resumed epoch
        # crops as the uninterrupted one did.
        base = tf.constant(seed, tf.int64)
        ds = ds.enumerate().map(
            lambda i, xy: (
                random_crop(xy[0], pad, tf.stack([base, i])),
                xy[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds, num_examples


def _augment_batches(ds, augment, info, seed):
    """The batch augmentations of `_augmenter`, mapped over the batches."""
    import tensorflow as tf

    augment_fn = _augmenter(augment, info.image_shape, info.num_classes, seed)
    if augment_fn is None:
        return ds
    # One batch at a time unless asked: Keras' random layers draw their
    # seeds from a state variable, and parallel calls race on it, so that
    # the same seed gave different batches (9 distinct of 12 in-process
    # rebuilds with every augmentation on). (`deterministic` is only
    # accepted with parallel calls; the sequential map is deterministic.)
    parallel = augment.get("parallel", False)
    return ds.enumerate().map(
        lambda i, batch: augment_fn(batch[0], batch[1], i),
        **(
            {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
            if parallel
            else {}
        ),
    )
