"""Tests of spatial_filters: finding, measuring and drawing filters."""

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
