"""Every config builds, and its smoke variant is small."""

import glob
import importlib
import json
import os

import conftest
import pytest

from spatialmix_keras import classification, initializers, schema
from spatialmix_keras import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(
    os.path.splitext(os.path.basename(p))[0]
    for p in glob.glob(os.path.join(REPO, "configs", "*.py"))
    # The package file: no experiment.
    if os.path.basename(p) != "__init__.py"
)
ARGS = {"convmixer_smoothing": "sigma=1.0", "unshuffle_cifar10": "d=4"}


@pytest.mark.parametrize("name", CONFIGS)
def test_config_and_its_smoke_variant_validate(name):
    module = importlib.import_module(f"configs.{name}")
    assert "python -m apps." in module.__doc__  # says how to run it
    arg = ARGS.get(name)
    full = module.get_config(arg)
    smoke = module.get_config(f"smoke,{arg}" if arg else "smoke")
    for config in (full, smoke):
        if set(config.keys()) >= set(schema.base_config().keys()):
            config_lib.validate_config(config)
    assert smoke.epochs * (smoke.steps_per_epoch or 10**9) <= 20
    with pytest.raises(ValueError, match="Received"):
        module.get_config("smok")


@pytest.mark.parametrize("sigma", ["none", "0.5", "2.0"])
def test_smoothing_config_builds_chans_models_with_that_sigma(sigma):
    from configs import convmixer_smoothing

    config = convmixer_smoothing.get_config(f"smoke,sigma={sigma}")
    model = classification.build_model(config)
    inits = [
        layer.depthwise_initializer
        for layer in model.layers
        if hasattr(layer, "spatial_trainable")
    ]
    assert inits and all(
        not layer.spatial_trainable
        for layer in model.layers
        if hasattr(layer, "spatial_trainable")
    )
    if sigma == "none":
        assert all(type(i) is initializers.SpatialRandom for i in inits)
    else:
        assert all(
            isinstance(i, initializers.Smoothed) and i.sigma == float(sigma)
            for i in inits
        )
    assert config.run_name == f"smoothing_smoke_sigma_{sigma}"


def test_unshuffle_cifar10_config_names_its_sweep_point():
    from configs import unshuffle_cifar10
    from spatialmix_keras import unshuffle

    config = unshuffle_cifar10.get_config("d=4,w=32,k=5")
    config.freeze = "spatial"
    assert config_lib.run_name(config) == "unshuffle_cifar10_d4_w32_k5_spatial"
    model = unshuffle.UnshuffleTask(config).build_model(config)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 32, 32, 3)
    depthwise = [
        layer for layer in model.layers if hasattr(layer, "spatial_trainable")
    ]
    assert len(depthwise) == 4
    assert depthwise[0].kernel_size == (5, 5)
    assert not depthwise[0].spatial_trainable
    with pytest.raises(ValueError, match="Received: 'd=0'"):
        unshuffle_cifar10.get_config("d=0")


def test_model_spec_reads_both_forms_of_a_saved_config():
    from spatialmix_keras import config as config_lib

    new = schema.base_config()
    new.model.update(name="resnet8", conv="standard")
    saved = json.loads(json.dumps(new.to_dict()))
    spec = {"name": "resnet8", "conv": "standard"}
    assert config_lib.model_spec(saved) == spec
    # Written before `config.model` became a ConfigDict.
    old = {"model": "convmixer_128_8", "model_kwargs": {"depth": 4}}
    assert config_lib.model_spec(old) == {"name": "convmixer_128_8", "depth": 4}
    old = {"model": "resnet8", "model_kwargs": {}, "conv": "standard"}
    assert config_lib.model_spec(old) == {"name": "resnet8", "conv": "standard"}


def test_the_schema_and_the_library_name_the_same_things():
    """The vocabulary (plain Python, read while flags are parsed) names what
    the library implements: no word without a meaning, none missing."""
    from spatialmix_keras import (
        datasets,
        distribute,
        models,
        schedules,
        vocabulary,
    )

    assert tuple(datasets.DATASETS) == vocabulary.DATASETS
    assert tuple(models.VARIANTS) == vocabulary.MODEL_NAMES
    assert tuple(initializers.ALIASES) == vocabulary.SPATIAL_INITIALIZERS
    assert distribute.STRATEGIES == vocabulary.STRATEGIES
    config = schema.base_config()
    for name in vocabulary.SCHEDULES:  # each builds a schedule in [0, lr]
        config.schedule.name = name
        schedule = schedules.make_schedule(config.schedule, 0.5, 100, 10)
        assert 0.0 <= float(schedule(50)) <= 0.5 + 1e-6, name


def test_configs_and_their_schema_import_no_tensorflow():
    code = (
        "import sys, importlib\n"
        "import spatialmix_keras.schema, spatialmix_keras.vocabulary\n"
        f"for name in {CONFIGS!r}:\n"
        "    importlib.import_module('configs.' + name).__name__\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = conftest.run_python(code)
    assert result.stdout.split() == ["False", "False"], result.stderr
