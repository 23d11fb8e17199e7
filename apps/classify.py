r"""Trains a classifier: `python -m apps.classify --freeze=spatial`.

With no flags but `--freeze`, trains the paper's separable pre-activation
ResNet-20 on CIFAR-10 (configs/resnet_cifar10.py). Everyday knobs are flags;
whole experiments are configs (`--config=configs/convmixer_cifar10.py`, with
`--config.<field>=...` overrides). Re-running the same command resumes.

    python -m apps.classify --freeze=spatial --epochs=30 --workdir=runs/chans
    tensorboard --logdir=runs
"""

from absl import app, flags, logging
from ml_collections import config_flags

from apps import common

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    common.config_path("resnet_cifar10.py"),
    "Experiment config file (ml_collections).",
    lock_config=True,
)
flags.DEFINE_enum(
    "freeze",
    None,
    ["none", "spatial", "channel"],
    "Full (none), Chans (spatial frozen), Space (channel frozen).",
)
flags.DEFINE_string("model", None, "Named model variant, e.g. resnet20.")
flags.DEFINE_enum(
    "conv", None, ["standard", "separable"], "ResNet convolutions."
)
flags.DEFINE_string(
    "dataset", None, "cifar10, mnist, fashion_mnist or imagenet2012."
)
flags.DEFINE_integer("epochs", None, "Training epochs.")
flags.DEFINE_integer("batch_size", None, "Batch size per replica.")
flags.DEFINE_float("learning_rate", None, "Peak learning rate per replica.")
flags.DEFINE_integer("seed", None, "Random seed (data order, filters).")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch.")
flags.DEFINE_string(
    "spatial_initializer",
    None,
    "Depthwise filters: spatial_random, same_random, box, "
    "identity or smoothed.",
)
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
    "mixed_precision",
    None,
    ["none", "mixed_float16", "mixed_bfloat16"],
    "Mixed precision policy.",
)
flags.DEFINE_enum(
    "jit_compile",
    None,
    ["auto", "on", "off"],
    "XLA; auto = on with a GPU/TPU, off on CPU.",
)
flags.DEFINE_enum(
    "strategy",
    None,
    ["auto", "default", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy.",
)

OVERRIDES = {
    "freeze": "freeze",
    "model": "model",
    "conv": "conv",
    "dataset": "dataset",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "optimizer.learning_rate",
    "seed": "seed",
    "steps_per_epoch": "steps_per_epoch",
    "spatial_initializer": "spatial_initializer",
    "data_dir": "data_dir",
    "tfds_data_dir": "tfds_data_dir",
    "small": "small",
    "export_dir": "export_dir",
    "run_name": "run_name",
    "overwrite": "overwrite",
    "mixed_precision": "mixed_precision",
    "jit_compile": "jit_compile",
    "strategy": "strategy",
}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from spatialmix_keras import train

    config = _CONFIG.value
    common.apply_flag_overrides(config, OVERRIDES)
    workdir = flags.FLAGS.workdir
    try:
        train.validate_config(config)
        workdir = workdir or f"runs/{train.run_name(config)}"
        metrics = train.train_and_evaluate(config, workdir)
    except (ValueError, OSError, FloatingPointError) as error:
        common.fail("classify", error)
    logging.info(
        "Done: final test accuracy %.4f (best %.4f), workdir %s",
        metrics["final_test_accuracy"],
        metrics["best_test_accuracy"],
        workdir,
    )


if __name__ == "__main__":
    app.run(main)
