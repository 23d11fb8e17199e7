"""Flag plumbing shared by the apps: flags override config fields."""

from __future__ import annotations

import os
import sys

from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_path(name: str) -> str:
    return os.path.join(REPO, "configs", name)


def define_training_flags(default_config: str, model_help: str, datasets: str):
    """Defines the flags every training app shares; returns `--config`.

    Each flag overrides the config field of the same name in
    `TRAINING_OVERRIDES` when given.
    """
    from ml_collections import config_flags

    config = config_flags.DEFINE_config_file(
        "config",
        config_path(default_config),
        "Experiment config file (ml_collections).",
        lock_config=True,
    )
    flags.DEFINE_enum(
        "freeze",
        None,
        ["none", "spatial", "channel"],
        "Full (none), Chans (spatial frozen), Space (channel frozen).",
    )
    flags.DEFINE_string("model", None, model_help)
    flags.DEFINE_string("dataset", None, datasets)
    flags.DEFINE_integer("epochs", None, "Training epochs.")
    flags.DEFINE_integer("batch_size", None, "Batch size per replica.")
    flags.DEFINE_float("learning_rate", None, "Peak learning rate per replica.")
    flags.DEFINE_integer("seed", None, "Random seed (data order, filters).")
    flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch.")
    flags.DEFINE_string(
        "data_dir",
        None,
        "Directory of <dataset>.npz files (default $SPATIALMIX_DATA_DIR).",
    )
    flags.DEFINE_string("tfds_data_dir", None, "TFDS data directory.")
    flags.DEFINE_bool("small", None, "Use <dataset>_small.npz.")
    flags.DEFINE_string("workdir", None, "Run directory (default runs/<run>).")
    flags.DEFINE_string(
        "export_dir", None, "Parent of the export (default saved_models)."
    )
    flags.DEFINE_string("run_name", None, "Name of the run and its export.")
    flags.DEFINE_bool("overwrite", None, "Replace an existing export.")
    flags.DEFINE_enum(
        "strategy",
        None,
        ["auto", "default", "mirrored", "multi_worker", "tpu"],
        "tf.distribute strategy.",
    )
    return config


# Flag name -> config field, for the flags of `define_training_flags`.
TRAINING_OVERRIDES = {
    "freeze": "freeze",
    "model": "model",
    "dataset": "dataset",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "optimizer.learning_rate",
    "seed": "seed",
    "steps_per_epoch": "steps_per_epoch",
    "data_dir": "data_dir",
    "tfds_data_dir": "tfds_data_dir",
    "small": "small",
    "export_dir": "export_dir",
    "run_name": "run_name",
    "overwrite": "overwrite",
    "strategy": "strategy",
}


def load_models_and_data(
    paths, dataset, split, batch_size, data_dir, small, tfds_data_dir
):
    """Loads exported models for evaluation and the split they are run on.

    Checks every model's input shape against the dataset before any data
    is read. Returns `(loaded models, batched tf.data pipeline)`.
    """
    from spatialmix_keras import data, export

    info = data.dataset_info(dataset)
    loaded = [export.load_for_eval(p) for p in paths]
    for model in loaded:
        export.check_input_shape(model, info.image_shape)
    pipeline, _ = data.input_pipeline(
        dataset,
        split,
        batch_size,
        training=False,
        data_dir=data_dir,
        small=small,
        tfds_data_dir=tfds_data_dir,
    )
    return loaded, pipeline


def apply_flag_overrides(config, mapping: dict[str, str]) -> None:
    """Copies each flag the user gave into its config field.

    Args:
        mapping: flag name -> dotted config field (`"learning_rate"` ->
            `"optimizer.learning_rate"`).
    """
    for flag_name, field in mapping.items():
        flag = flags.FLAGS[flag_name]
        if not flag.present:
            continue
        node = config
        *parents, leaf = field.split(".")
        for parent in parents:
            node = node[parent]
        with config.unlocked() if hasattr(config, "unlocked") else _null():
            node[leaf] = flag.value


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def interrupted(app_name: str, stopped: BaseException) -> None:
    """Exits with `train.EXIT_INTERRUPTED` (75) after a saved stop."""
    from spatialmix_keras import train

    print(f"{app_name}: {stopped}", file=sys.stderr)
    raise SystemExit(train.EXIT_INTERRUPTED)


def fail(app_name: str, error: BaseException) -> None:
    """Exits non-zero with a one-line message naming the problem."""
    print(f"{app_name}: error: {error}", file=sys.stderr)
    raise SystemExit(1)
