import keras
import numpy as np
import pytest

from spatialmix_keras import SpatialDepthwiseConv2D
from spatialmix_keras import initializers as inits

SHAPE = (8, 8, 64, 3)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _high_frequency_share(filters):
    """Share of each filter's spectral energy outside the lowest quarter."""
    spectrum = np.abs(np.fft.fft2(filters, axes=(0, 1))) ** 2
    freqs = np.abs(np.fft.fftfreq(filters.shape[0]))
    high = (freqs[:, None] > 0.25) | (freqs[None, :] > 0.25)
    return spectrum[high].sum() / spectrum.sum()


def test_spatial_random_is_uniform_at_pytorch_scale():
    k = SHAPE[0]
    w = _np(inits.SpatialRandom(seed=1)(SHAPE))
    assert np.all(np.abs(w) <= 1.0 / k)
    # U(-b, b) has variance b^2 / 3; 12288 draws pin it within a few %.
    np.testing.assert_allclose(w.var(), (1.0 / k) ** 2 / 3, rtol=0.05)
    assert abs(w.mean()) < 0.01 / k
    # Glorot on a depthwise kernel is ~4.6x smaller at C=128, k=8.
    glorot = _np(keras.initializers.GlorotUniform(seed=0)((8, 8, 128, 1)))
    ratio = _np(inits.SpatialRandom(seed=0)((8, 8, 128, 1))).std() / (
        glorot.std()
    )
    assert 4.0 < ratio < 5.2


@pytest.mark.parametrize("name", sorted(inits.ALIASES))
def test_seed_reproduces_and_config_round_trips(name):
    init = inits.get(name)
    assert isinstance(init, inits.ALIASES[name])
    rebuilt = type(init).from_config(init.get_config())
    np.testing.assert_array_equal(_np(init(SHAPE)), _np(rebuilt(SHAPE)))
    via_keras = keras.initializers.deserialize(
        keras.initializers.serialize(init)
    )
    np.testing.assert_array_equal(_np(init(SHAPE)), _np(via_keras(SHAPE)))


@pytest.mark.parametrize(
    "cls", [inits.SpatialRandom, inits.SameRandom, inits.Smoothed]
)
def test_different_seeds_give_different_filters(cls):
    a, b = _np(cls(seed=1)(SHAPE)), _np(cls(seed=2)(SHAPE))
    assert not np.allclose(a, b)


def test_unseeded_initializers_draw_distinct_seeds():
    assert inits.SpatialRandom().seed != inits.SpatialRandom().seed


def test_same_random_repeats_one_filter_set_for_every_channel():
    w = _np(inits.SameRandom(seed=3)(SHAPE))
    np.testing.assert_array_equal(w, np.repeat(w[:, :, :1], SHAPE[2], axis=2))
    # ...but the depth_multiplier filters of that set differ.
    assert not np.allclose(w[..., 0, 0], w[..., 0, 1])


def test_box_filters_are_constant_at_either_energy():
    w = _np(inits.Box()(SHAPE))
    np.testing.assert_allclose(w, w.flat[0])
    np.testing.assert_allclose((w**2).sum(axis=(0, 1)), 1.0 / 3, rtol=1e-6)
    natural = _np(inits.Box(energy="natural")((5, 5, 2, 1)))
    np.testing.assert_allclose(natural.sum(axis=(0, 1)), 1.0, rtol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8])
def test_identity_filter_passes_input_through(k):
    x = np.random.default_rng(0).uniform(size=(2, 9, 11, 3)).astype("f4")
    layer = SpatialDepthwiseConv2D(
        k,
        padding="same",
        use_bias=False,
        depthwise_initializer=inits.Identity(energy="natural"),
    )
    np.testing.assert_array_equal(_np(layer(x)), x)


def test_identity_random_energy_is_a_scaled_delta():
    w = _np(inits.Identity()((4, 4, 1, 1)))[..., 0, 0]
    assert np.count_nonzero(w) == 1
    np.testing.assert_allclose(w[1, 1], np.sqrt(1.0 / 3), rtol=1e-6)


def test_smoothed_filters_have_less_high_frequency_energy():
    raw = _np(inits.SpatialRandom(seed=5)(SHAPE))
    smooth = _np(inits.Smoothed(sigma=1.0, seed=5)(SHAPE))
    smoother = _np(inits.Smoothed(sigma=2.0, seed=5)(SHAPE))
    assert _high_frequency_share(smooth) < 0.5 * _high_frequency_share(raw)
    assert _high_frequency_share(smoother) < _high_frequency_share(smooth)
    # Default energy matches the expected energy of the random filters.
    np.testing.assert_allclose((smooth**2).sum(axis=(0, 1)), 1.0 / 3, rtol=1e-6)


def test_smoothed_natural_energy_is_the_blurred_random_filter():
    sigma, k = 1.5, 5
    raw = _np(inits.SpatialRandom(seed=9)((k, k, 1, 1)))[..., 0, 0]
    # Independent blur: per-tap normalised Gaussian, summed explicitly.
    expected = np.zeros_like(raw, dtype=np.float64)
    for a in range(k):
        for b in range(k):
            wa = np.exp(-((a - np.arange(k)) ** 2) / (2 * sigma**2))
            wb = np.exp(-((b - np.arange(k)) ** 2) / (2 * sigma**2))
            expected[a, b] = (
                np.outer(wa / wa.sum(), wb / wb.sum()) * raw
            ).sum()
    got = _np(inits.Smoothed(sigma, energy="natural", seed=9)((k, k, 1, 1)))
    np.testing.assert_allclose(got[..., 0, 0], expected, rtol=1e-5)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match=r"argument `sigma`.*sigma=-1"):
        inits.Smoothed(sigma=-1)
    with pytest.raises(ValueError, match=r"argument `energy`.*'loud'"):
        inits.Box(energy="loud")
    with pytest.raises(ValueError, match=r"argument `seed`.*'abc'"):
        inits.SpatialRandom(seed="abc")
    with pytest.raises(ValueError, match=r"depthwise kernel shape.*\(3, 3\)"):
        inits.SpatialRandom(seed=0)((3, 3))
    with pytest.raises(ValueError, match=r"Received: 'spatial_randm'"):
        inits.get("spatial_randm")
