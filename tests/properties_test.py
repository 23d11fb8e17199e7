"""Property-based tests (hypothesis): the input validators and the attacks
hold for arbitrary inputs, not only for the cases we thought of."""

import itertools

import hypothesis.extra.numpy as hnp
import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from spatialmix_keras import attacks, datasets

MNIST = datasets.dataset_info("mnist")
_files = itertools.count()


@st.composite
def _npz_arrays(draw):
    """Image and label arrays that are right in each respect about half the
    time (count, shape, dtype, values), so that valid pairs and pairs wrong
    in only one respect both occur."""
    n = draw(st.integers(0, 3))
    image_shape = draw(
        st.one_of(
            st.just((n, *MNIST.image_shape)),
            st.tuples(st.integers(27, 29), st.integers(27, 29)).map(
                lambda hw: (n, *hw, 1)
            ),
            hnp.array_shapes(min_dims=0, max_dims=5, max_side=4),
        )
    )
    image_dtype = draw(
        st.one_of(
            st.just(np.uint8),
            st.sampled_from(
                [np.int8, np.int32, np.uint16, np.float32, np.float64, np.bool_]
            ),
        )
    )
    images = draw(hnp.arrays(image_dtype, image_shape))
    label_shape = draw(
        st.one_of(
            st.just((n,)),
            hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
        )
    )
    # Values -2..12 drawn in int64, then cast: in uint8, -2 wraps to 254.
    labels = draw(
        hnp.arrays(
            np.int64,
            label_shape,
            elements=st.one_of(
                st.integers(0, 9), st.sampled_from([-2, -1, 10, 12])
            ),
        )
    )
    label_dtype = draw(
        st.sampled_from([np.int64, np.int32, np.uint8, np.int8, np.float32])
    )
    return images, labels.astype(label_dtype)


def _valid(images, labels):
    """The contract, stated independently of `datasets._check_arrays`."""
    return (
        images.dtype == np.uint8
        and images.ndim == 4
        and images.shape[1:] == MNIST.image_shape
        and images.shape[0] > 0
        and labels.dtype.kind in "iu"
        and labels.shape == (images.shape[0],)
        and int(labels.min()) >= 0
        and int(labels.max()) < MNIST.num_classes
    )


# derandomize: CI sees the same examples on every run.
@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(arrays=_npz_arrays())
# Right in every respect but the labels' dtype (rare in the draws above).
@example(arrays=(np.zeros((2, 28, 28, 1), np.uint8), np.ones(2, np.float32)))
def test_npz_loader_returns_valid_arrays_or_one_clear_error(tmp_path, arrays):
    images, labels = arrays
    path = str(tmp_path / f"mnist_{next(_files)}.npz")
    np.savez(path, x_train=images, y_train=labels, x_test=images, y_test=labels)
    if _valid(images, labels):
        got_images, got_labels = datasets.load_npz(path, "mnist", "train")
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels, labels)
        assert got_labels.dtype == np.int32
    else:
        with pytest.raises(ValueError) as raised:
            datasets.load_npz(path, "mnist", "train")
        message = str(raised.value)
        assert message.startswith(path) and "\n" not in message


@pytest.fixture(scope="module")
def attacker():
    model = keras.Sequential(
        [
            keras.Input((4, 4, 2)),
            keras.layers.Conv2D(3, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    return attacks.Attacker(model)


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    eps=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    steps=st.integers(1, 4),
    targeted=st.booleans(),
)
def test_adversarial_images_stay_within_eps_and_inside_the_unit_box(
    attacker, eps, seed, steps, targeted
):
    rng = np.random.default_rng(seed)
    # Pixels on and near the box's faces, where clipping matters.
    images = rng.choice([0.0, 1.0, 0.5, 1e-4, 1 - 1e-4], size=(6, 4, 4, 2))
    images = np.where(
        rng.random(images.shape) < 0.5, images, rng.random(images.shape)
    )
    images = images.astype("float32")
    labels = rng.integers(0, 3, size=6)
    for adversarial in (
        attacker.fgsm(images, labels, eps, targeted),
        attacker.pgd(images, labels, eps, steps, seed=seed, targeted=targeted),
    ):
        adversarial = adversarial.numpy()
        assert np.all(np.abs(adversarial - images) <= eps + 1e-6)
        assert np.all((adversarial >= 0) & (adversarial <= 1))
