import keras
import numpy as np
import pytest

from spatialmix_keras import (
    SpatialDepthwiseConv2D,
    SpatialSeparableConv2D,
    get_model,
    models,
)

FREEZES = ("none", "spatial", "channel")


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


@pytest.mark.parametrize(
    "variant,per_block,n",
    [
        ("cifar", 6, 1),
        ("cifar", 6, 3),
        ("imagenet", 8, 1),
        ("imagenet", 8, 2),
    ],
)
def test_resnet_has_6n_plus_2_or_8n_plus_2_layers(variant, per_block, n):
    model = models.preact_resnet(n, variant=variant, input_shape=(32, 32, 3))
    convs = _layers_of(model, SpatialSeparableConv2D)
    dense = _layers_of(model, keras.layers.Dense)
    assert len(convs) + len(dense) == per_block * n + 2
    assert all(c.depth_multiplier == 9 for c in convs)
    assert convs[0].name == "stem_conv"
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("variant", ["cifar", "imagenet"])
def test_separable_chans_resnet_learns_as_many_parameters_as_standard(variant):
    # Paper eq. (3): with d = k*k = 9 every pointwise kernel has as many
    # weights as the standard conv it replaces, so a Chans separable ResNet
    # trains exactly as many parameters as the standard ResNet.
    shape = (32, 32, 3)
    standard = models.preact_resnet(
        2, variant, conv="standard", input_shape=shape
    )
    chans = models.preact_resnet(
        2, variant, freeze="spatial", input_shape=shape
    )
    full = models.preact_resnet(2, variant, freeze="none", input_shape=shape)
    # ...except the ImageNet 7x7 stem, where k*k = 49 != d = 9: its pointwise
    # kernel has 3 * 9 * 64 weights against the standard conv's 3 * 49 * 64.
    stem_gap = 0 if variant == "cifar" else 3 * 64 * (49 - 9)
    assert (
        _count(standard.trainable_weights) - _count(chans.trainable_weights)
        == stem_gap
    )
    # Full also learns the depthwise filters: c_in * k * k * 9 per conv.
    depthwise = sum(
        c.input.shape[-1] * c.kernel_size[0] * c.kernel_size[1] * 9
        for c in _layers_of(full, SpatialSeparableConv2D)
    )
    assert (
        _count(full.trainable_weights) - _count(chans.trainable_weights)
        == depthwise
    )
    stem = 3 * (9 if variant == "cifar" else 49) * 9
    assert _layers_of(full, SpatialSeparableConv2D)[
        0
    ].depthwise_kernel.shape == (3 if variant == "cifar" else 7,) * 2 + (3, 9)
    assert stem == int(
        np.prod(
            _layers_of(full, SpatialSeparableConv2D)[0].depthwise_kernel.shape
        )
    )


@pytest.mark.parametrize("freeze", FREEZES)
def test_convmixer_trainable_count_matches_hand_derivation(freeze):
    dim, depth, k, p, c, classes = 24, 3, 5, 2, 3, 7
    model = models.convmixer(
        dim, depth, k, p, num_classes=classes, freeze=freeze
    )
    stem = p * p * c * dim + dim + 2 * dim  # conv, bias, BN gamma/beta
    spatial = k * k * dim + dim  # depthwise kernel and bias
    channel = dim * dim + dim
    block_bn = 2 * (2 * dim)
    head = dim * classes + classes
    expected = stem + depth * (spatial + channel + block_bn) + head
    if freeze == "spatial":
        expected -= depth * spatial
    if freeze == "channel":
        expected -= depth * channel
    assert _count(model.trainable_weights) == expected
    # Moving mean/variance are never trainable; frozen kernels join them.
    assert _count(model.weights) == expected + 2 * dim * (1 + 2 * depth) + (
        depth * spatial if freeze == "spatial" else 0
    ) + (depth * channel if freeze == "channel" else 0)


def test_unshuffler_maps_images_to_images_of_their_channels():
    model = models.convmixer_unshuffler(16, 2, 5, input_shape=(14, 14, 3))
    assert model.output_shape == (None, 14, 14, 3)
    assert not _layers_of(model, keras.layers.GlobalAveragePooling2D)
    assert len(_layers_of(model, SpatialDepthwiseConv2D)) == 2


def _frozen_and_trainable_kernels(model):
    kernels = [w for w in model.weights if "kernel" in w.name]
    frozen = [w for w in kernels if not w.trainable]
    trainable = [w for w in kernels if w.trainable]
    return frozen, trainable


@pytest.mark.parametrize(
    "name", ["resnet_tiny", "convmixer_tiny", "unshuffler_tiny"]
)
@pytest.mark.parametrize("freeze", FREEZES)
def test_fit_changes_only_trainable_kernels(name, freeze, cifar_small):
    images, labels = cifar_small
    model = get_model(name, freeze=freeze, input_shape=images.shape[1:], seed=1)
    is_unshuffler = name.startswith("unshuffler")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="mse"
        if is_unshuffler
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    targets = images if is_unshuffler else labels
    frozen, trainable = _frozen_and_trainable_kernels(model)
    before = {
        id(w): keras.ops.convert_to_numpy(w).copy() for w in frozen + trainable
    }
    model.fit(images[:64], targets[:64], batch_size=32, epochs=1, verbose=0)
    spatial_names = ("depthwise",)
    for w in frozen:
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(w), before[id(w)], err_msg=w.path
        )
    for w in trainable:
        assert not np.array_equal(
            keras.ops.convert_to_numpy(w), before[id(w)]
        ), w.path
    # The right part froze: depthwise kernels in Chans, 1x1 in Space.
    frozen_paths = [w.path for w in frozen]
    if freeze == "none":
        assert frozen_paths == []
    elif freeze == "spatial":
        assert frozen_paths and all(
            any(s in p for s in spatial_names) for p in frozen_paths
        )
    else:
        assert frozen_paths and not any("depthwise" in p for p in frozen_paths)
    # BatchNorm always learns, and its running statistics move.
    assert all(
        w.trainable
        for w in model.weights
        if "gamma" in w.name or "beta" in w.name
    )


def test_uint8_input_and_normalization_live_inside_the_model():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    as_uint8 = models.convmixer(
        8,
        1,
        3,
        2,
        input_shape=(16, 16, 3),
        input_dtype="uint8",
        mean=mean,
        std=std,
    )
    plain = models.convmixer(8, 1, 3, 2, input_shape=(16, 16, 3))
    plain.set_weights(as_uint8.get_weights())
    normalised = (pixels / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(as_uint8(pixels)),
        keras.ops.convert_to_numpy(plain(normalised.astype("float32"))),
        rtol=1e-4,
        atol=1e-5,
    )


def test_same_seed_rebuilds_the_same_frozen_filters():
    a = get_model("convmixer_tiny", freeze="spatial", seed=7)
    b = get_model("convmixer_tiny", freeze="spatial", seed=7)
    c = get_model("convmixer_tiny", freeze="spatial", seed=8)
    ka = [w.numpy() for w in a.non_trainable_weights if "kernel" in w.name]
    kb = [w.numpy() for w in b.non_trainable_weights if "kernel" in w.name]
    kc = [w.numpy() for w in c.non_trainable_weights if "kernel" in w.name]
    assert len(ka) == 2
    for x, y, z in zip(ka, kb, kc, strict=True):
        np.testing.assert_array_equal(x, y)
        assert not np.array_equal(x, z)
    # Different blocks get different (independent) filters.
    assert not np.array_equal(ka[0], ka[1])


def test_spatial_initializer_instance_keeps_its_settings():
    from spatialmix_keras.initializers import Smoothed

    model = get_model(
        "convmixer_tiny",
        freeze="spatial",
        spatial_initializer=Smoothed(sigma=2.0),
        seed=3,
    )
    inits = [
        layer.depthwise_initializer
        for layer in _layers_of(model, SpatialDepthwiseConv2D)
    ]
    assert [type(i) for i in inits] == [Smoothed, Smoothed]
    assert [i.sigma for i in inits] == [2.0, 2.0]
    assert [i.seed for i in inits] == [4, 5]


def test_bad_model_arguments_name_argument_and_value():
    with pytest.raises(ValueError) as info:
        models.preact_resnet(0)
    assert str(info.value) == (
        "Invalid value for argument `depth_n`. Expected an integer >= 1. "
        "Received: depth_n=0"
    )
    with pytest.raises(ValueError, match=r"Received: name='resnet21'"):
        get_model("resnet21")
    with pytest.raises(ValueError, match=r"freeze='spatal'"):
        get_model("convmixer_tiny", freeze="spatal")
    with pytest.raises(ValueError, match=r"conv='standard'.*freeze='spatial'"):
        models.preact_resnet(1, conv="standard", freeze="spatial")
    with pytest.raises(ValueError, match=r"variant='cifar100'"):
        models.preact_resnet(1, variant="cifar100")
    with pytest.raises(ValueError, match=r"depth_multiplier=0"):
        models.preact_resnet(1, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"input_dtype='int8'"):
        get_model("convmixer_tiny", input_dtype="int8")


@pytest.mark.parametrize("variant", ["resnet_tiny", "convmixer_tiny"])
def test_runs_of_one_seed_start_from_the_same_weights_in_every_mode(variant):
    """The pairing the CIFAR-10 study relies on: with one seed, Full, Chans
    and Space begin from identical weights (Full from exactly the filters
    Chans keeps frozen); only which of them learn differs."""
    initial = {}
    for freeze in ("none", "spatial", "channel"):
        keras.utils.set_random_seed(7)  # as train_and_evaluate does
        model = get_model(variant, freeze=freeze, seed=7)
        initial[freeze] = {w.path: np.array(w) for w in model.weights}
    for freeze in ("spatial", "channel"):
        assert initial[freeze].keys() == initial["none"].keys()
        for path, value in initial["none"].items():
            np.testing.assert_array_equal(initial[freeze][path], value)
    keras.utils.set_random_seed(8)
    other = get_model(variant, freeze="none", seed=8)
    assert any(
        not np.array_equal(np.array(w), initial["none"][w.path])
        for w in other.weights
        if "kernel" in w.path
    )


def test_build_reads_one_model_description_and_checks_it():
    spec = {"name": "convmixer_tiny", "depth": 1, "kernel_size": 5}
    built = models.build(
        spec, freeze="spatial", seed=3, mean=(0.5,) * 3, std=(0.25,) * 3
    )
    direct = models.convmixer(
        dim=16,
        depth=1,
        kernel_size=5,
        patch_size=2,
        freeze="spatial",
        seed=3,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
    )
    assert [w.shape for w in built.weights] == [w.shape for w in direct.weights]
    assert [w.trainable for w in built.weights] == [
        w.trainable for w in direct.weights
    ]
    # The seeded (frozen) spatial filters and the normalization agree.
    for a, b in zip(built.weights, direct.weights, strict=True):
        if not a.trainable:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Context arguments the builder does not take are left out.
    unshuffler = models.build({"name": "unshuffler_tiny"}, num_classes=7)
    assert unshuffler.output_shape == unshuffler.input_shape
    with pytest.raises(ValueError) as info:
        models.build({"name": "convmixer_tiny", "conv": "standard"})
    assert str(info.value).startswith(
        "Model 'convmixer_tiny' (convmixer) takes no argument 'conv' "
        "(from config.model). It takes: "
    )
    with pytest.raises(ValueError, match=r"config.model.freeze='spatial'"):
        models.build({"name": "resnet_tiny", "freeze": "spatial"})
    with pytest.raises(ValueError, match=r"with a `name`"):
        models.build({"depth": 1})
    with pytest.raises(ValueError, match=r"Received: model.name='resnet21'"):
        models.build({"name": "resnet21"})
