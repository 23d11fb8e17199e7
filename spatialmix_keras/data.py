"""Datasets: a local directory of `.npz` files, or TensorFlow Datasets.

The local layout is that of `shared/data/` (one `<dataset>.npz` per dataset,
`<dataset>_small.npz` for the class-balanced subsets), with arrays `x_train`,
`y_train`, `x_test`, `y_test`: NHWC uint8 images and uint8 labels. The local
directory comes from the `data_dir` argument, else from the environment
variable `SPATIALMIX_DATA_DIR`; when it does not hold the file, TFDS is tried
(its own `tfds_data_dir`), downloading and preparing the dataset when the
machine is online; offline, the error names both ways to provide the data.
Files are read with `allow_pickle=False` and checked before use.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import socket
import zipfile

import ml_collections
import numpy as np

from spatialmix_keras import schema

DATA_DIR_ENV = "SPATIALMIX_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    image_shape: tuple[int, int, int]
    num_classes: int
    # Per-channel mean and std of the training pixels on a [0, 1] scale.
    mean: tuple[float, ...]
    std: tuple[float, ...]
    tfds_name: str


DATASETS = {
    "cifar10": DatasetInfo(
        (32, 32, 3),
        10,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        "cifar10",
    ),
    "mnist": DatasetInfo((28, 28, 1), 10, (0.13066,), (0.30811,), "mnist"),
    "fashion_mnist": DatasetInfo(
        (28, 28, 1), 10, (0.28604,), (0.35302,), "fashion_mnist"
    ),
    # From TFDS only (manual download of the ILSVRC2012 tars, as TFDS says).
    "imagenet2012": DatasetInfo(
        (224, 224, 3),
        1000,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        "imagenet2012",
    ),
}
TFDS_ONLY = ("imagenet2012",)
SPLITS = ("train", "test")


class DataNotFoundError(FileNotFoundError):
    """Neither the local directory nor TFDS holds the requested data."""


def dataset_info(dataset: str) -> DatasetInfo:
    if dataset not in DATASETS:
        raise ValueError(
            "Invalid value for argument `dataset`. Expected one of "
            f"{tuple(DATASETS)}. Received: dataset={dataset!r}"
        )
    return DATASETS[dataset]


def resolve_data_dir(data_dir: str | None = None) -> str | None:
    """The local data directory: the argument, else `$SPATIALMIX_DATA_DIR`."""
    return data_dir or os.environ.get(DATA_DIR_ENV) or None


def _check_arrays(path, images, labels, info, split):
    where = f"{path} ({split} split)"
    if images.dtype != np.uint8 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{where}: expected uint8 images and integer labels. "
            f"Received: images {images.dtype}, labels {labels.dtype}"
        )
    if images.ndim != 4 or images.shape[1:] != info.image_shape:
        raise ValueError(
            f"{where}: expected images of shape (N, "
            f"{', '.join(map(str, info.image_shape))}). "
            f"Received: {images.shape}"
        )
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"{where}: expected one label per image ({images.shape[0]}). "
            f"Received: labels of shape {labels.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{where}: the split is empty.")
    if labels.min() < 0 or labels.max() >= info.num_classes:
        raise ValueError(
            f"{where}: labels must lie in [0, {info.num_classes - 1}]. "
            f"Received: min {labels.min()}, max {labels.max()}"
        )


def epoch_seed(seed: int, epoch: int) -> int:
    """The data seed of one epoch: a resumed run sees, in every epoch, the
    same order and augmentation as an uninterrupted one."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def load_npz(path: str, dataset: str, split: str):
    """Reads and checks one split of a local `.npz` file.

    Results are cached per file version (path, size, modification time), so
    rebuilding a pipeline every epoch reads the file once; the arrays are
    read-only.

    Returns:
        `(images, labels)`: uint8 `(N, H, W, C)` and int32 `(N,)`.
    """
    stat = os.stat(path)
    return _load_npz_cached(
        path, dataset, split, stat.st_size, stat.st_mtime_ns
    )


@functools.lru_cache(maxsize=8)
def _load_npz_cached(path, dataset, split, size, mtime_ns):
    info = dataset_info(dataset)
    if split not in SPLITS:
        raise ValueError(
            f"Invalid value for argument `split`. Expected one of {SPLITS}. "
            f"Received: split={split!r}"
        )
    keys = (f"x_{split}", f"y_{split}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise ValueError(
                    f"{path}: missing arrays {missing}; a dataset file holds "
                    "x_train, y_train, x_test and y_test."
                )
            images, labels = npz[keys[0]], npz[keys[1]]
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(
            f"{path}: not a readable .npz file (truncated or corrupt?): {error}"
        ) from error
    _check_arrays(path, images, labels, info, split)
    labels = labels.astype(np.int32)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


# Where TFDS downloads CIFAR-10, MNIST and Fashion-MNIST from.
TFDS_DOWNLOAD_HOST = "storage.googleapis.com"


def online(host: str = TFDS_DOWNLOAD_HOST) -> bool:
    """Whether `host` resolves: offline, TFDS would retry its downloads for
    minutes before failing, so we ask first."""
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _load_tfds(dataset, split, tfds_data_dir):
    import tensorflow_datasets as tfds

    info = dataset_info(dataset)
    download = online()
    try:
        images, labels = tfds.as_numpy(
            tfds.load(
                info.tfds_name,
                split=split,
                batch_size=-1,
                as_supervised=True,
                data_dir=tfds_data_dir,
                download=download,
            )
        )
    except Exception as error:  # TFDS raises many types for "not prepared".
        offline = (
            ""
            if download
            else f"offline: {TFDS_DOWNLOAD_HOST} does not "
            "resolve, so nothing was downloaded; "
        )
        raise DataNotFoundError(f"{offline}{error}") from error
    return images, labels.astype(np.int32)


def load_arrays(
    dataset: str,
    split: str,
    data_dir: str | None = None,
    small: bool = False,
    tfds_data_dir: str | None = None,
):
    """Loads one split as NumPy arrays, from the local directory or TFDS.

    Args:
        dataset: `"cifar10"`, `"mnist"` or `"fashion_mnist"`.
        split: `"train"` or `"test"`.
        data_dir: local directory of `.npz` files; default
            `$SPATIALMIX_DATA_DIR`.
        small: read `<dataset>_small.npz` (local only): 200 train and 50 test
            images per class.
        tfds_data_dir: TFDS' own data directory, used when the local file is
            missing.

    Returns:
        `(images, labels)`: uint8 `(N, H, W, C)` and int32 `(N,)`.
    """
    dataset_info(dataset)
    if dataset in TFDS_ONLY:
        raise ValueError(
            f"Dataset {dataset!r} streams from TFDS: use `input_pipeline`."
        )
    local_dir = resolve_data_dir(data_dir)
    filename = f"{dataset}_small.npz" if small else f"{dataset}.npz"
    if local_dir is not None:
        path = os.path.join(local_dir, filename)
        if os.path.exists(path):
            return load_npz(path, dataset, split)
    where = (
        f"{os.path.join(local_dir, filename)} does not exist"
        if local_dir
        else f"no local data directory is set (--data_dir or ${DATA_DIR_ENV})"
    )
    if small:
        raise DataNotFoundError(
            f"Cannot load {filename}: {where}. The small subsets exist only as "
            f"local files: point --data_dir or ${DATA_DIR_ENV} at a directory "
            "holding it."
        )
    try:
        return _load_tfds(dataset, split, tfds_data_dir)
    except DataNotFoundError as error:
        raise DataNotFoundError(
            f"Cannot load dataset {dataset!r} ({split}): {where}, and TFDS "
            f"could not provide it ({error}). Either put {filename} (arrays "
            "x_train, y_train, x_test, y_test) in a directory and pass it with "
            f"--data_dir or ${DATA_DIR_ENV}, or prepare it with TFDS "
            f"(`tfds build {dataset_info(dataset).tfds_name}` on a machine "
            "with internet) and pass --tfds_data_dir."
        ) from error


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

    info = dataset_info(dataset)
    if dataset in TFDS_ONLY:
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

    info = dataset_info(dataset)
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
        raise DataNotFoundError(
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

    images, labels = load_arrays(dataset, split, data_dir, small, tfds_data_dir)
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
