r"""Separable pre-activation ResNet on CIFAR-10 (paper section 4.1, Fig. 2).

The recipe: SGD with momentum 0.9, L2 weight decay 5e-4 on kernels, learning
rate 0.1 per 128 images, cosine decay, 200 epochs (a common CIFAR recipe;
the paper states no epoch count), pad-4 random crop of each image and
horizontal flip; depth multiplier 9.

Run (the default config of the classify app):

    python -m apps.classify --freeze=spatial            # Chans
    python -m apps.classify --config=resnet_cifar10 \
        --config.freeze=none --config.model.name=resnet56     # Full, n = 9

Smoke (half a minute on a 2-core CPU: the same ResNet-20 on
cifar10_small.npz, 2 epochs of 5 steps of 32 images):

    python -m apps.classify --config=resnet_cifar10:smoke

Expected: the paper's Fig. 2 shows Chans a few points below Full on CIFAR-10
and Space far below both. The full 200 epochs have not been run in this
project (one epoch of resnet20 takes ~5 minutes on 2 CPU cores); the smoke
run only shows that training runs end to end. Measured at `apps.reproduce`'s
cifar scale (this config for 10 epochs on all of CIFAR-10, one core of an
AMD EPYC a run, a batch-level crop; docs/results.md), seeds 0 / 1 / 2:
resnet20 Full 85.7 / 85.8 / 85.7%, Chans 84.7 / 84.5 / 84.6%, Space 78.8 /
78.7 / 78.3%; resnet8 Full 78.9 / 79.0 / 79.5%, Chans 77.4 / 77.4 / 77.9%,
Space 69.2 / 68.3 / 67.7% test accuracy.
"""

import ml_collections

from spatialmix_keras import schema


def get_config(arg: str | None = None):
    config = schema.base_config()
    # conv: "separable" or "standard"; compose: how a separable convolution
    # is computed ("auto", "always", "never"; the same numbers each way);
    # depth_multiplier: depthwise filters per input channel (9 = k * k, at
    # which a Chans layer spans every 3x3 convolution).
    config.model = ml_collections.ConfigDict(
        {
            "name": "resnet20",
            "conv": "separable",
            "compose": "auto",
            "depth_multiplier": 9,
        }
    )
    config.epochs = 200
    config.batch_size = 128
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.1
    config.optimizer.weight_decay = 5e-4
    config.schedule.name = "cosine"
    if arg == "smoke":
        schema.shrink_for_smoke(config)  # the same ResNet-20, briefly
    elif arg:
        raise schema.invalid_config_argument(arg)
    return config
