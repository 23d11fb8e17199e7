"""The config schema: every field a run's config has, and its validation.

`base_config()` (classification) and `unshuffle_config()` (un-shuffling)
hold every field with its default; the experiment files of `configs/` start
from them and change what they need. `validate(config)` rejects a bad field
value in one line naming the field and what it received.

Plain Python and `ml_collections`, like the experiment files: flags and
configs are parsed, and a bad one refused, before TensorFlow is imported
(`--help` and a typo answer in a fraction of a second). The library adds
the checks that need it (`spatialmix_keras.config.validate_config`: the
model's arguments against its builder).
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os

import ml_collections
from ml_collections import config_dict

from spatialmix_keras.vocabulary import (
    COMPOSE_MODES,
    CONVS,
    DATASETS,
    FREEZE_MODES,
    JIT_MODES,
    MODEL_NAMES,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    SPATIAL_INITIALIZERS,
    STRATEGIES,
)


def base_config() -> ml_collections.ConfigDict:
    """Every field a training config has, at the paper's CIFAR-10 ResNet
    recipe; `configs/*.py` start from this and change what they need."""
    c = ml_collections.ConfigDict()
    c.dataset = "cifar10"
    c.data_dir = config_dict.placeholder(str)
    c.tfds_data_dir = config_dict.placeholder(str)
    c.small = False  # <dataset>_small.npz: 200 train / 50 test per class
    # The model, described once: a variant of `models.VARIANTS` plus any
    # arguments of its builder (e.g. `conv` for ResNets, `dim`, `depth`,
    # `kernel_size` for ConvMixers), read by `models.build`.
    c.model = ml_collections.ConfigDict({"name": "resnet20"})
    c.freeze = "none"
    c.spatial_initializer = "spatial_random"
    c.smoothing_sigma = 1.0  # with spatial_initializer="smoothed"
    c.epochs = 200
    c.batch_size = 128  # per replica
    c.steps_per_epoch = config_dict.placeholder(int)  # None: whole epoch
    c.test_examples = config_dict.placeholder(int)  # None: whole test split
    c.optimizer = ml_collections.ConfigDict(
        {
            "name": "sgd",
            "learning_rate": 0.1,
            "momentum": 0.9,
            "nesterov": False,
            "weight_decay": 5e-4,
            "beta_1": 0.9,
            "beta_2": 0.999,
        }
    )
    c.schedule = ml_collections.ConfigDict(
        {
            "name": "cosine",
            "warmup_epochs": 0.0,
            "boundaries": (0.5, 0.75),
            "factor": 0.1,
        }
    )
    c.augment = augment_config(crop_padding=4, flip=True)
    c.seed = 0
    c.mixed_precision = "none"
    # Bit-identical reruns (tf.config.experimental.enable_op_determinism,
    # process-wide); off by default, see README for its cost.
    c.deterministic = False
    c.jit_compile = "auto"  # on with a GPU/TPU, off on CPU (slower there)
    c.strategy = "auto"
    c.log_every_steps = 50  # plain progress lines (no terminal)
    # Also save mid-epoch, at most this many minutes apart (0: epoch ends
    # only), so that a stop loses minutes, not an epoch.
    c.checkpoint_every_minutes = 10.0
    c.filter_images = 2  # depthwise layers shown in TensorBoard
    c.run_name = config_dict.placeholder(str)  # default: derived
    # Also keep the model's weights after these epochs (0: the initial
    # weights) in <workdir>/weights/, e.g. to attack early checkpoints.
    c.save_weights_epochs = ()
    c.export_dir = "saved_models"
    c.export = True
    c.overwrite = False
    return c


# A smoke run: the small data file, 2 epochs of 5 steps of 32 images (about
# a minute on a 2-core laptop), to see that a config runs end to end.
SMOKE = {
    "small": True,
    "epochs": 2,
    "batch_size": 32,
    "steps_per_epoch": 5,
    "log_every_steps": 5,
}


def shrink_for_smoke(config, **changes) -> ml_collections.ConfigDict:
    """Applies `SMOKE`, then `changes` (e.g. a smaller model), to `config`."""
    config.update({**SMOKE, **changes})
    return config


def invalid_config_argument(arg, expected="'smoke' or none") -> ValueError:
    """The error a config's `get_config` raises for an argument it does not
    take."""
    return ValueError(
        f"Invalid config argument. Expected {expected}. Received: {arg!r}"
    )


def load_config_file(path: str, arg: str | None = None):
    """`get_config(arg)` of the config file at `path`, loaded by path (as
    `--config` loads it), so that one config can build on a sibling file
    wherever the configs lie."""
    spec = importlib.util.spec_from_file_location(
        os.path.splitext(os.path.basename(path))[0], path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def augment_config(**overrides) -> ml_collections.ConfigDict:
    """Augmentation settings; every step is off unless switched on.

    Fields:
        crop_padding: pad by this many pixels and crop back at random (the
            ResNet recipe uses 4; 0 = off): each image at its own offset,
            seeded by the run's seed, the epoch and the image's place in the
            epoch (`data.random_crop`).
        flip: random horizontal flips.
        rand_augment: Keras `RandAugment` (the ConvMixer recipe).
        rand_augment_layers, rand_augment_magnitude: its settings.
        mixup_alpha, cutmix_alpha: Beta parameters of Keras `MixUp` / `CutMix`
            (0 = off); with both on, each batch gets one of them at random.
        erasing_prob: probability of Keras `RandomErasing` per image (0 = off).
        parallel: augment several batches at once. Faster (the pipeline ran
            2.0x the images/s with RandAugment on 2 cores), but Keras' random
            layers then race on their seed state: the same seed no longer
            gives the same batches, in a rerun or a resumed run either. Off by
            default; turn it on where the pipeline cannot keep up.
    """
    config = ml_collections.ConfigDict(
        {
            "crop_padding": 0,
            "flip": False,
            "rand_augment": False,
            "rand_augment_layers": 2,
            "rand_augment_magnitude": 0.5,
            "mixup_alpha": 0.0,
            "cutmix_alpha": 0.0,
            "erasing_prob": 0.0,
            "parallel": False,
        }
    )
    config.update(overrides)
    return config


def unshuffle_config() -> ml_collections.ConfigDict:
    """`base_config()` plus the un-shuffling fields (`spatialmix_keras.
    unshuffle`)."""
    config = base_config()
    config.task = "unshuffle"
    config.dataset = "mnist"
    config.model = ml_collections.ConfigDict({"name": "unshuffler_128_8"})
    config.augment = augment_config()
    config.unshuffle = ml_collections.ConfigDict(
        {
            "permutation_seed": 0,
            "image_size": config_dict.placeholder(int),  # None: native size
            "summary_images": 4,
        }
    )
    return config


def _positive(name, value, integer=False):
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value > 0
        and (not integer or float(value).is_integer())
    )
    if not ok:
        kind = "an integer >= 1" if integer else "a finite number > 0"
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected {kind}. "
            f"Received: {name}={value!r}"
        )


def _choice(name, value, choices):
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of "
            f"{tuple(choices)}. Received: {name}={value!r}.{hint}"
        )


def validate(config) -> None:
    """Rejects a bad field value, in one line naming the field."""
    _choice("dataset", config.dataset, DATASETS)
    arguments = config.model
    _choice("model.name", arguments["name"], MODEL_NAMES)
    _choice("freeze", config.freeze, FREEZE_MODES)
    if "conv" in arguments:
        _choice("model.conv", arguments["conv"], CONVS)
    if "compose" in arguments:
        _choice("model.compose", arguments["compose"], COMPOSE_MODES)
    _choice(
        "spatial_initializer", config.spatial_initializer, SPATIAL_INITIALIZERS
    )
    _positive("epochs", config.epochs, integer=True)
    kept = config.save_weights_epochs
    if not all(
        isinstance(e, int) and not isinstance(e, bool) and 0 <= e for e in kept
    ):
        raise ValueError(
            "Invalid value for argument `save_weights_epochs`. Expected a "
            f"tuple of integers >= 0. Received: save_weights_epochs={kept!r}"
        )
    _positive("batch_size", config.batch_size, integer=True)
    for field in ("steps_per_epoch", "test_examples"):
        if config[field] is not None:
            _positive(field, config[field], integer=True)
    _positive("learning_rate", config.optimizer.learning_rate)
    _choice("optimizer.name", config.optimizer.name, OPTIMIZERS)
    _choice("schedule.name", config.schedule.name, SCHEDULES)
    _choice("mixed_precision", config.mixed_precision, PRECISIONS)
    _choice("jit_compile", config.jit_compile, JIT_MODES)
    _choice("strategy", config.strategy, STRATEGIES)
    wd = config.optimizer.weight_decay
    if not (isinstance(wd, (int, float)) and math.isfinite(wd) and wd >= 0):
        raise ValueError(
            "Invalid value for argument `weight_decay`. Expected a finite "
            f"number >= 0. Received: weight_decay={wd!r}"
        )
