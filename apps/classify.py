r"""Trains a classifier: `python -m apps.classify --freeze=spatial`.

With no flags but `--freeze`, trains the paper's separable pre-activation
ResNet-20 on CIFAR-10 (configs/resnet_cifar10.py). Everyday knobs are flags;
whole experiments are configs (`--config=configs/convmixer_cifar10.py`, with
`--config.<field>=...` overrides). Re-running the same command resumes.

    python -m apps.classify --freeze=spatial --epochs=30 --workdir=runs/chans
    tensorboard --logdir=runs
"""

from absl import flags, logging

from spatialmix_keras import stopping, vocabulary

from . import common

_CONFIG = common.define_training_flags(
    "resnet_cifar10.py",
    "Model variant, e.g. resnet8 (sets config.model.name; the model's other "
    "arguments are --config.model.<argument>).",
    "cifar10, mnist, fashion_mnist or imagenet2012.",
)
flags.DEFINE_enum(
    "conv",
    None,
    list(vocabulary.CONVS),
    "ResNet convolutions (sets config.model.conv).",
)
flags.DEFINE_string(
    "spatial_initializer",
    None,
    "Depthwise filters: spatial_random, same_random, box, "
    "identity or smoothed.",
)
flags.DEFINE_enum(
    "mixed_precision",
    None,
    list(vocabulary.PRECISIONS),
    "Mixed precision policy.",
)
flags.DEFINE_enum(
    "jit_compile",
    None,
    list(vocabulary.JIT_MODES),
    "XLA; auto = on with a GPU/TPU, off on CPU.",
)

flags.adopt_module_key_flags(common)  # --help lists the shared flags too

OVERRIDES = {
    **common.TRAINING_OVERRIDES,
    "conv": "model.conv",
    "spatial_initializer": "spatial_initializer",
    "mixed_precision": "mixed_precision",
    "jit_compile": "jit_compile",
}


def main(argv):
    config = _CONFIG.value
    if not common.resolve_config("classify", config, OVERRIDES):
        return
    from spatialmix_keras import config as config_lib
    from spatialmix_keras import train

    workdir = flags.FLAGS.workdir
    try:
        config_lib.validate_config(config)
        workdir = workdir or f"runs/{config_lib.run_name(config)}"
        if common.finished_or_restarted(config, workdir):
            return
        metrics = train.train_and_evaluate(config, workdir)
    except stopping.Interrupted as stopped:
        common.interrupted("classify", stopped)
    except (ValueError, OSError, FloatingPointError) as error:
        common.fail("classify", error)
    logging.info(
        "Done: final test accuracy %.4f (best %.4f), workdir %s",
        metrics["final_test_accuracy"],
        metrics["best_test_accuracy"],
        workdir,
    )


def run():
    """Console entry point (`spatialmix-classify`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
