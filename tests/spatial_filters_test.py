"""Tests of spatial_filters: finding, measuring and drawing filters."""

import conftest
import keras
import numpy as np
import pytest

from spatialmix_keras import get_model, spatial_filters


def _direct_high_share(kernel, cutoff, size):
    """Energy above `cutoff` of the DTFT of a 2-D kernel, summed by hand
    over the frequencies j/size (no FFT)."""
    k = kernel.shape[0]
    high = total = 0.0
    for a in range(size):
        for b in range(size):
            fa = a / size if a < size / 2 else a / size - 1
            fb = b / size if b < size / 2 else b / size - 1
            value = sum(
                kernel[i, j] * np.exp(-2j * np.pi * (fa * i + fb * j))
                for i in range(k)
                for j in range(k)
            )
            energy = abs(value) ** 2
            total += energy
            if np.hypot(fa, fb) > cutoff:
                high += energy
    return high / total


def test_high_frequency_share_matches_a_direct_fourier_sum():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3))
    expected = _direct_high_share(kernel, 0.25, 12)
    got = spatial_filters.high_frequency_share(
        [kernel[..., None, None]], 0.25, 12
    )
    assert got == pytest.approx(expected, rel=1e-9)
    # Pooled over filters: energy-weighted, as one sum.
    other = rng.normal(size=(3, 3)) * 3
    pooled = spatial_filters.high_frequency_share(
        {"a": np.stack([kernel, other], -1)[..., None, :]}, 0.25, 12
    )
    assert min(expected, _direct_high_share(other, 0.25, 12)) <= pooled
    assert pooled <= max(expected, _direct_high_share(other, 0.25, 12))


def test_white_noise_has_the_grid_share_and_smoothing_lowers_it():
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(5, 5, 64, 32))
    frequencies = np.fft.fftfreq(32)
    grid = np.mean(np.hypot(frequencies[:, None], frequencies[None, :]) > 0.25)
    share = spatial_filters.high_frequency_share([noise])
    assert share == pytest.approx(grid, abs=0.02)  # ~0.80
    # A 3-tap binomial blur along both axes (a low-pass) lowers it.
    blur = np.array([0.25, 0.5, 0.25])
    smooth = sum(
        blur[i] * blur[j] * np.roll(np.roll(noise, i - 1, 0), j - 1, 1)
        for i in range(3)
        for j in range(3)
    )
    assert spatial_filters.high_frequency_share([smooth]) < share - 0.2


def test_high_frequency_share_refuses_what_it_cannot_measure():
    with pytest.raises(ValueError, match="all zero"):
        spatial_filters.high_frequency_share([np.zeros((3, 3, 2, 1))])
    with pytest.raises(ValueError, match="argument `size`: 4 is smaller"):
        spatial_filters.high_frequency_share([np.ones((5, 5, 1, 1))], size=4)


def test_filter_movement_is_the_relative_frobenius_distance():
    initial = {"a": np.ones((3, 3, 1, 1)), "b": np.full((1, 2, 1, 1), 2.0)}
    current = {"a": np.ones((3, 3, 1, 1)), "b": np.full((1, 2, 1, 1), 5.0)}
    # moved: 2 entries * 3^2 = 18; size: 9 * 1 + 2 * 4 = 17.
    assert spatial_filters.filter_movement(initial, current) == pytest.approx(
        np.sqrt(18 / 17)
    )
    assert spatial_filters.filter_movement(initial, initial) == 0
    with pytest.raises(ValueError, match=r"\['c'\]"):
        spatial_filters.filter_movement(initial, {**current, "c": np.ones(1)})


def test_depthwise_kernels_are_the_spatial_filters_of_each_model():
    resnet = get_model("resnet8", input_shape=(32, 32, 3))
    separable = [
        layer
        for layer in resnet.layers
        if isinstance(layer, keras.layers.SeparableConv2D)
    ]
    kernels = spatial_filters.depthwise_kernels(resnet)
    # ResNet-8: stem + 3 stages x 1 block x 2 convolutions.
    assert len(kernels) == len(separable) == 7
    for layer in separable:
        np.testing.assert_array_equal(
            kernels[layer.name], layer.depthwise_kernel.numpy()
        )
    mixer = get_model("convmixer_tiny", input_shape=(28, 28, 1), depth=3)
    assert len(spatial_filters.depthwise_kernels(mixer)) == 3
    assert (
        spatial_filters.depthwise_kernels(
            get_model("resnet8", input_shape=(32, 32, 3), conv="standard")
        )
        == {}
    )


def test_filter_grid_tiles_each_filter_scaled_to_its_own_magnitude():
    # Two 2x2 filters (one channel, multiplier 2), one 10x the other.
    kernel = np.zeros((2, 2, 1, 2), np.float32)
    kernel[..., 0, 0] = [[1.0, -1.0], [0.5, 0.0]]
    kernel[..., 0, 1] = 10 * kernel[..., 0, 0]
    grid = spatial_filters.filter_grid(kernel, zoom=1)[..., 0]
    # One row of two cells, each 2x2, with a 1-pixel white border: 4 x 7.
    assert grid.shape == (4, 7)
    expected = 0.5 + 0.5 * np.array([[1.0, -1.0], [0.5, 0.0]])
    np.testing.assert_allclose(grid[1:3, 1:3], expected)
    np.testing.assert_allclose(grid[1:3, 4:6], expected)
    assert (grid[0] == 1).all() and (grid[:, 3] == 1).all()
    # zoom repeats every pixel; max_filters keeps the first ones.
    zoomed = spatial_filters.filter_grid(kernel, zoom=3)[..., 0]
    np.testing.assert_array_equal(zoomed, np.kron(grid, np.ones((3, 3))))
    assert spatial_filters.filter_grid(kernel, 1, zoom=1).shape == (4, 4, 1)


@pytest.mark.parametrize("d", [1, 3, 4])
def test_outside_span_is_the_least_squares_residual_share(d):
    rng = np.random.default_rng(d)
    initial = rng.normal(size=(3, 3, 5, d))
    composed = rng.normal(size=(3, 3, 5, 7))
    assert spatial_filters.outside_span(initial, composed) == pytest.approx(
        conftest.lstsq_outside(initial, composed), rel=1e-9
    )


def test_outside_span_splits_a_kernel_built_inside_and_outside_the_span():
    # Per channel, a combination of the initial filters plus a part
    # orthogonal to them (from a QR of [D0 | random]); the share outside
    # is the second part's energy over both, since the two are orthogonal.
    rng = np.random.default_rng(0)
    d, f = 3, 4
    initial = rng.normal(size=(3, 3, 6, d))
    inside = np.zeros((3, 3, 6, f))
    outside = np.zeros((3, 3, 6, f))
    for c in range(6):
        a = initial[:, :, c, :].reshape(9, d)
        q, _ = np.linalg.qr(np.concatenate([a, rng.normal(size=(9, 9))], 1))
        complement = q[:, d:9]  # orthogonal to the span of a
        inside[:, :, c, :] = (a @ rng.normal(size=(d, f))).reshape(3, 3, f)
        outside[:, :, c, :] = (
            complement @ rng.normal(size=(9 - d, f))
        ).reshape(3, 3, f)
    expected = np.sum(outside**2) / (np.sum(inside**2) + np.sum(outside**2))
    share = spatial_filters.outside_span(initial, inside + outside)
    assert share == pytest.approx(expected, rel=1e-9)
    assert spatial_filters.outside_span(initial, inside) < 1e-20
    assert spatial_filters.outside_span(initial, outside) == pytest.approx(1)


def test_outside_span_is_zero_when_k_squared_filters_span_and_counts_rank():
    rng = np.random.default_rng(1)
    composed = rng.normal(size=(3, 3, 4, 8))
    assert (
        spatial_filters.outside_span(rng.normal(size=(3, 3, 4, 9)), composed)
        < 1e-20
    )
    # Two copies of one filter span one direction, not two.
    one = rng.normal(size=(3, 3, 4, 1))
    twice = np.concatenate([one, 2 * one], axis=-1)
    assert spatial_filters.outside_span(twice, composed) == pytest.approx(
        spatial_filters.outside_span(one, composed), rel=1e-9
    )
    # A W unrelated to d random filters keeps about 1 - d/9 outside.
    many = rng.normal(size=(3, 3, 64, 64))
    share = spatial_filters.outside_span(rng.normal(size=(3, 3, 64, 3)), many)
    assert share == pytest.approx(1 - 3 / 9, abs=0.02)


def test_outside_span_refuses_what_it_cannot_measure():
    with pytest.raises(ValueError, match=r"initial=\(3, 3, 4, 2\)"):
        spatial_filters.outside_span(
            np.ones((3, 3, 4, 2)), np.ones((3, 3, 5, 2))
        )
    with pytest.raises(ValueError, match="all zero"):
        spatial_filters.outside_span(
            np.ones((3, 3, 4, 2)), np.zeros((3, 3, 4, 2))
        )


def test_unreachable_shares_rebuild_the_initial_filters_of_each_layer():
    from spatialmix_keras.initializers import SpatialRandom
    from spatialmix_keras.layers import SpatialSeparableConv2D

    def model():
        return keras.Sequential(
            [
                keras.Input((8, 8, 4)),
                SpatialSeparableConv2D(
                    6,
                    3,
                    depth_multiplier=2,
                    name="fixed",
                    depthwise_initializer=SpatialRandom(seed=3),
                ),  # fmt: skip
                SpatialSeparableConv2D(
                    5, 3, name="stock", depthwise_initializer="glorot_uniform"
                ),
            ]
        )

    trained = model()
    initial = keras.ops.convert_to_numpy(
        trained.get_layer("fixed").depthwise_kernel
    )
    rng = np.random.default_rng(0)
    layer = trained.get_layer("fixed")
    moved = initial + 0.3 * rng.normal(size=initial.shape)
    layer.depthwise_kernel.assign(moved)
    pointwise = keras.ops.convert_to_numpy(layer.pointwise_kernel)
    composed = np.einsum(
        "hwcm,cmf->hwcf", moved, pointwise.reshape(4, 2, 6)
    )  # fmt: skip
    shares = spatial_filters.unreachable_shares(trained)
    assert set(shares) == {"fixed"}  # a stock initializer is not rebuilt
    assert shares["fixed"] == pytest.approx(
        conftest.lstsq_outside(initial, composed), rel=1e-5
    )
    assert shares["fixed"] > 0.05
    # Unmoved filters (Chans) reach everything the layer computes.
    assert spatial_filters.unreachable_shares(model())["fixed"] < 1e-10


def test_unreachable_shares_of_a_depthwise_layer_take_each_filter_alone():
    # A frozen depthwise filter can only be scaled (a nonlinearity follows
    # it): the share is each moved filter's energy off its initial line,
    # ||f||^2 - (f.f0)^2 / ||f0||^2, summed over filters, over ||D||^2.
    from spatialmix_keras.layers import SpatialDepthwiseConv2D

    model = keras.Sequential(
        [keras.Input((8, 8, 3)), SpatialDepthwiseConv2D(3, depth_multiplier=2)]
    )
    layer = model.layers[-1]
    initial = keras.ops.convert_to_numpy(layer.kernel)
    moved = initial + 0.2 * np.random.default_rng(0).normal(size=initial.shape)
    layer.kernel.assign(moved)
    f0 = initial.reshape(9, 6)
    f = moved.reshape(9, 6)
    off = np.sum(f**2, 0) - np.sum(f * f0, 0) ** 2 / np.sum(f0**2, 0)
    (share,) = spatial_filters.unreachable_shares(model).values()
    assert share == pytest.approx(off.sum() / np.sum(f**2), rel=1e-5)
    # Not the span of both filters of a channel, which reaches more.
    assert share > spatial_filters.outside_span(initial, moved)
