"""The training config: its validation and a run's identity.

The schema (every field, its default and the checks that need no
TensorFlow) is `spatialmix_keras.schema`; `validate_config` adds the model's
arguments and rejects a bad config before any data is read;
`run_name` and `config_hash` name a run after what it computes, and
`check_workdir` keeps runs of different configs apart.
"""

from __future__ import annotations

import hashlib
import json
import os

import ml_collections

from spatialmix_keras import models, schema

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
    name derived from the config (model, freeze mode, data, `_small` for the
    small subset, epochs and any cap on steps, `e2x5`, seed) plus the hash,
    so that runs of different configs (a quick `--epochs=1` run beside the
    real one) never share a workdir or an export, and say how they differ.
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
    small = "_small" if config.small else ""
    steps = f"x{config.steps_per_epoch}" if config.steps_per_epoch else ""
    return (
        f"{model}{conv}_{config.freeze}{init}_{config.dataset}{small}"
        f"_e{config.epochs}{steps}_s{config.seed}_{fields['hash']}"
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


def validate_config(config) -> None:
    """Rejects a bad config before any data is read or model built: the
    schema's checks (`schema.validate`, no TensorFlow), then the model's
    arguments against its builder."""
    schema.validate(config)
    models.split_spec(config.model)


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
