"""The stock-layer baselines the benchmarks time against."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from benchmarks import common
from spatialmix_keras import flops, get_model

_OURS = (
    "SpatialSeparableConv2D",
    "SpatialDepthwiseConv2D",
    "PointwiseConv2D",
    "FusedBatchNormalization",
)


def _leaves(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        else:
            yield layer


@pytest.mark.parametrize("name", ["resnet_tiny", "convmixer_tiny"])
@pytest.mark.parametrize("freeze", ["none", "spatial", "channel"])
def test_stock_clone_is_the_same_network_in_stock_layers(name, freeze):
    model = get_model(name, freeze=freeze, seed=0)
    stock = common.stock_clone(model)
    assert not [
        type(layer).__name__
        for layer in _leaves(stock)
        if type(layer).__name__ in _OURS
    ]
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        stock(x, training=False), model(x, training=False), atol=1e-5
    )
    count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    assert count(stock.trainable_weights) == count(model.trainable_weights)
    assert flops.step_flops(stock) == flops.step_flops(model)


def test_convs_false_keeps_our_convolutions():
    model = get_model("convmixer_tiny", freeze="spatial", seed=0)
    mixed = common.stock_clone(model, convs=False)
    names = {type(layer).__name__ for layer in _leaves(mixed)}
    assert "SpatialDepthwiseConv2D" in names
    assert "FusedBatchNormalization" not in names


def test_components_times_every_piece_at_a_tiny_size():
    # A smoke run of the profile on a 2x4x4x8 tensor: every piece, the
    # XLA-compiled ones included, runs and gets a time, and each block total
    # is the sum of its pieces.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.components",
            "--batch_size=2",
            "--dim=8",
            "--size=4",
            "--kernel_size=3",
            "--repeats=1",
        ],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    out = json.loads(result.stdout)
    ms = out["ms"]
    assert out["tensor"] == [2, 4, 4, 8]
    assert {
        "gelu_ours",
        "gelu_ours_uncompiled",
        "depthwise_all_grads_xla",
    } <= set(ms)
    assert all(t > 0 for t in ms.values())
    chans = (
        ms["depthwise_input_grad"]
        + ms["pointwise_all_grads"]
        + 2 * (ms["batchnorm_fused"] + ms["gelu_ours"])
    )
    assert out["block_ms"]["chans_ours"] == pytest.approx(chans)
