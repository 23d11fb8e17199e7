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

import numpy as np

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
            f"Dataset {dataset!r} streams from TFDS: use `data.input_pipeline`."
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
