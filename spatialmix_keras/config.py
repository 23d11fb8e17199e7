"""The training config: its fields, its validation and a run's identity.

`base_config()` holds every field a training config has (configs/*.py start
from it); `validate_config` rejects a bad one before any data is read;
`run_name` and `config_hash` name a run after what it computes, and
`check_workdir` keeps runs of different configs apart.
"""

from __future__ import annotations

import hashlib
import json
import math
import os

import ml_collections
from ml_collections import config_dict

from spatialmix_keras import data, distribute, models
from spatialmix_keras import initializers as fixed_initializers
from spatialmix_keras.schedules import SCHEDULES
from spatialmix_keras.vocabulary import (
    COMPOSE_MODES,
    CONVS,
    FREEZE_MODES,
    JIT_MODES,
    OPTIMIZERS,
    PRECISIONS,
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
    c.augment = data.augment_config(crop_padding=4, flip=True)
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


# Fields that change how a run is carried out, logged or exported, not what
# it computes: they stay out of the run's identity (its hash), and a workdir
# may be resumed with other values of them.
OPERATIONAL_FIELDS = (
    "data_dir",
    "tfds_data_dir",
    "export_dir",
    "export",
    "overwrite",
    "log_every_steps",
    "checkpoint_every_minutes",
    "save_weights_epochs",
    "filter_images",
    "run_name",
    "jit_compile",
    "deterministic",
)


def _flat(node, prefix=""):
    """`{"optimizer.learning_rate": 0.1, ...}` of a config or its dict."""
    items = node.items() if hasattr(node, "items") else ()
    flat = {}
    for key, value in items:
        if isinstance(value, (dict, ml_collections.ConfigDict)):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = (
                list(value) if isinstance(value, tuple) else value
            )
    return flat


def _identity(config) -> dict:
    return {
        k: v
        for k, v in _flat(config).items()
        if k.split(".")[0] not in OPERATIONAL_FIELDS
    }


def config_hash(config) -> str:
    """Six hex digits that identify what a run computes (its resolved
    config less `OPERATIONAL_FIELDS`)."""
    text = json.dumps(_identity(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def run_name(config) -> str:
    """The run's (and its export's) name.

    `config.run_name` when set; it may use `{freeze}`, `{seed}`,
    `{dataset}`, `{model}` and `{hash}` (`config_hash`). Otherwise a readable
    name derived from the config plus the hash, so that runs of different
    configs (a quick `--epochs=1` run beside the real one) never share a
    workdir or an export.
    """
    fields = {k: config[k] for k in ("freeze", "seed", "dataset")}
    fields["model"] = config.model.name
    fields["hash"] = config_hash(config)
    if config.run_name:
        try:
            return config.run_name.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                "Invalid value for argument `run_name`. It may use the "
                f"fields {tuple(fields)} in braces. Received: "
                f"run_name={config.run_name!r}"
            ) from error
    name, arguments = models.split_spec(config.model)
    conv = (
        f"_{arguments.get('conv', 'separable')}"
        if name.startswith("resnet")
        else ""
    )
    changes = "".join(
        f"_{k}{v}" for k, v in models.variant_changes(name, arguments).items()
    )
    model = f"{name}+{changes[1:]}" if changes else name
    init = (
        ""
        if config.spatial_initializer == "spatial_random"
        else f"_{config.spatial_initializer}"
    )
    return (
        f"{model}{conv}_{config.freeze}{init}_{config.dataset}"
        f"_s{config.seed}_{fields['hash']}"
    )


def check_workdir(workdir: str, config) -> None:
    """Refuses a workdir that holds a run of another config, in one line
    naming the fields that differ (operational fields may differ)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    try:
        with open(path) as f:
            old = _identity(json.load(f))
    except (OSError, ValueError) as error:
        raise ValueError(
            f"The workdir {workdir} has an unreadable config.json ({error}); "
            "move it aside or choose another --workdir."
        ) from error
    new = _identity(json.loads(json.dumps(config.to_dict(), default=str)))
    differ = sorted(
        k for k in old.keys() | new.keys() if old.get(k) != new.get(k)
    )
    if differ:
        shown = "; ".join(
            f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in differ[:4]
        )
        more = f" (and {len(differ) - 4} more)" if len(differ) > 4 else ""
        raise ValueError(
            f"The workdir {workdir} holds a run of another config ({shown}"
            f"{more}). To resume that run, use its own settings; to start a "
            "new one, pass another --workdir (or none: the default is named "
            "after the config)."
        )


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
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of "
            f"{tuple(choices)}. Received: {name}={value!r}"
        )


def validate_config(config) -> None:
    """Rejects a bad config before any data is read or model built."""
    data.dataset_info(config.dataset)
    _, arguments = models.split_spec(config.model)
    _choice("freeze", config.freeze, FREEZE_MODES)
    if "conv" in arguments:
        _choice("model.conv", arguments["conv"], CONVS)
    if "compose" in arguments:
        _choice("model.compose", arguments["compose"], COMPOSE_MODES)
    _choice(
        "spatial_initializer",
        config.spatial_initializer,
        tuple(fixed_initializers.ALIASES),
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
    _choice("strategy", config.strategy, distribute.STRATEGIES)
    wd = config.optimizer.weight_decay
    if not (isinstance(wd, (int, float)) and math.isfinite(wd) and wd >= 0):
        raise ValueError(
            "Invalid value for argument `weight_decay`. Expected a finite "
            f"number >= 0. Received: weight_decay={wd!r}"
        )


# Config fields that only one choice of another field reads.
_READ_ONLY_BY = {
    "optimizer.momentum": ("optimizer.name", "sgd"),
    "optimizer.nesterov": ("optimizer.name", "sgd"),
    "optimizer.beta_1": ("optimizer.name", "adamw"),
    "optimizer.beta_2": ("optimizer.name", "adamw"),
    "schedule.boundaries": ("schedule.name", "step"),
    "schedule.factor": ("schedule.name", "step"),
    "smoothing_sigma": ("spatial_initializer", "smoothed"),
}


def hparams(config) -> dict:
    """The hyperparameters of a run for TensorBoard's HParams dashboard:
    what it computes (`OPERATIONAL_FIELDS` left out), without the settings
    its optimizer, schedule and initializer do not read (no Adam betas on an
    SGD run)."""
    flat = _identity(config)
    return {
        key: value
        for key, value in flat.items()
        if isinstance(value, (bool, int, float, str))
        and (
            key not in _READ_ONLY_BY
            or flat.get(_READ_ONLY_BY[key][0]) == _READ_ONLY_BY[key][1]
        )
    }


def model_spec(config: dict) -> dict:
    """The model description (`{"name": ..., **arguments}`) of a saved
    `config.json`, also of one written before `config.model` became a
    ConfigDict (then `model` was the name, with `model_kwargs` and `conv`
    beside it)."""
    model = config.get("model")
    if isinstance(model, dict):
        return dict(model)
    spec = {"name": model, **(config.get("model_kwargs") or {})}
    if config.get("conv") is not None:
        spec["conv"] = config["conv"]
    return spec
