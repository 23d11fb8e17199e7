import os

import numpy as np
import pytest

from spatialmix_keras import datasets


def _write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _valid_arrays(n=20):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
        "y_train": (np.arange(n) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
        "y_test": (np.arange(n) % 10).astype(np.uint8),
    }


def test_small_file_matches_its_documented_layout(data_dir):
    images, labels = datasets.load_arrays(
        "cifar10", "train", data_dir, small=True
    )
    assert images.shape == (2000, 32, 32, 3) and images.dtype == np.uint8
    # 200 training images of each class (shared/data/README.md).
    np.testing.assert_array_equal(np.bincount(labels), [200] * 10)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (
            lambda a: a.update(x_train=a["x_train"].astype(np.float32)),
            "expected uint8 images",
        ),
        (
            lambda a: a.update(x_train=a["x_train"][..., 0]),
            r"expected images of shape \(N, 28, 28, 1\)",
        ),
        (lambda a: a.update(y_train=a["y_train"] + 5), r"labels must lie in"),
        (lambda a: a.update(y_train=a["y_train"][:-1]), "one label per image"),
        (lambda a: a.pop("y_train"), r"missing arrays \['y_train'\]"),
        (
            lambda a: a.update(
                x_train=a["x_train"][:0], y_train=a["y_train"][:0]
            ),
            "the split is empty",
        ),
    ],
)
def test_bad_npz_files_are_refused_naming_the_file(tmp_path, mutate, message):
    arrays = _valid_arrays()
    mutate(arrays)
    path = _write(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(ValueError, match=message) as info:
        datasets.load_arrays("mnist", "train", str(tmp_path))
    assert path in str(info.value)


def test_object_arrays_are_never_unpickled(tmp_path):
    arrays = _valid_arrays()
    arrays["x_train"] = np.array([object()] * 3, dtype=object)
    _write(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(ValueError, match="not a readable .npz|pickle"):
        datasets.load_arrays("mnist", "train", str(tmp_path))


def test_truncated_file_is_refused_and_left_alone(tmp_path, data_dir):
    with open(os.path.join(data_dir, "mnist_small.npz"), "rb") as f:
        content = f.read()[:5000]
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        datasets.load_arrays("mnist", "train", str(tmp_path))
    assert path.read_bytes() == content


def test_missing_data_offline_says_both_ways_to_provide_it(
    tmp_path, monkeypatch
):
    # Offline (as our machines are; forced here so that an online machine
    # does not download): no TFDS download is tried, and the message says
    # how to provide the data either way.
    monkeypatch.setattr(datasets, "online", lambda host=None: False)
    with pytest.raises(datasets.DataNotFoundError) as info:
        datasets.load_arrays(
            "fashion_mnist",
            "test",
            str(tmp_path),
            tfds_data_dir=str(tmp_path / "tfds"),
        )
    message = str(info.value)
    assert "fashion_mnist.npz" in message and "--data_dir" in message
    assert datasets.DATA_DIR_ENV in message and "tfds" in message.lower()
    assert "offline: storage.googleapis.com does not resolve" in message
    assert not (tmp_path / "tfds" / "downloads").exists()
