"""Shared fixtures: quiet TensorFlow, seeded Keras, the small datasets."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from spatialmix_keras import data  # noqa: E402

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DEFAULT_DATA_DIR = os.path.join(os.path.dirname(_REPO), "shared", "data")


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


@pytest.fixture(scope="session")
def data_dir():
    """`$SPATIALMIX_DATA_DIR`, else `../shared/data` beside the checkout.

    Without it the tests that need real data are skipped on a laptop and fail
    in CI (`CI=true`), where the data must be there.
    """
    path = data.resolve_data_dir() or _DEFAULT_DATA_DIR
    if not os.path.exists(os.path.join(path, "cifar10_small.npz")):
        message = (
            f"cifar10_small.npz not found in {path}: set "
            f"{data.DATA_DIR_ENV} to the directory of the .npz datasets."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def cifar_small(data_dir):
    """A few hundred CIFAR-10 images as float32 in [0, 1], and labels."""
    images, labels = data.load_arrays("cifar10", "train", data_dir, small=True)
    # Every 8th image keeps all ten classes (the file is sorted by class).
    images, labels = images[::8], labels[::8]
    return images.astype(np.float32) / 255.0, labels
