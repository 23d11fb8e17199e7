r"""ConvMixer on CIFAR-10 (paper section 4.2, Figs. 4 and 6).

The paper's ConvMixer: 128 channels, kernel 8, patch 1, trained with the
ConvMixer authors' CIFAR-10 recipe: AdamW (weight decay 5e-3, not on BN or
biases), one-cycle learning rate peaking at 0.01 per 128 images, 25 epochs,
RandAugment (2 ops) and flips; MixUp, CutMix and RandomErasing are available
(`--config.augment.mixup_alpha=0.8`, `...cutmix_alpha=1.0`,
`...erasing_prob=0.25`).

Run:

    python -m apps.classify --config=configs/convmixer_cifar10.py \
        --config.freeze=spatial --config.model.depth=8

Smoke (~1 min on a 2-core CPU, cifar10_small.npz, tiny ConvMixer):

    python -m apps.classify --config=configs/convmixer_cifar10.py:smoke

Expected: the paper's Fig. 4 shows Chans ConvMixers close to Full and Space
far below. Full-scale numbers have not been measured in this project yet. At
`apps.reproduce`'s cpu scale (Fashion-MNIST, dim 64, kernel 5, patch 2,
25,600 training images, 2-core CPU, 1-2.5 min a run), depth 6: Full 77.4%,
Chans 76.5%, Space 74.4% (docs/results/cpu/fig4.md).
"""

import ml_collections

from spatialmix_keras import schema


def get_config(arg: str | None = None):
    config = schema.base_config()
    config.model = ml_collections.ConfigDict(
        {
            "name": "convmixer_128_8",
            "dim": 128,
            "depth": 8,
            "kernel_size": 8,
            "patch_size": 1,
        }
    )
    config.epochs = 25
    config.batch_size = 128
    config.optimizer.name = "adamw"
    config.optimizer.learning_rate = 0.01
    config.optimizer.weight_decay = 5e-3
    config.schedule.name = "onecycle"
    config.augment = schema.augment_config(
        flip=True,
        rand_augment=True,
        rand_augment_layers=2,
        rand_augment_magnitude=0.4,
    )
    if arg == "smoke":
        schema.shrink_for_smoke(config)
        config.model.update(
            name="convmixer_tiny", dim=16, depth=2, kernel_size=3, patch_size=2
        )
    elif arg:
        raise schema.invalid_config_argument(arg)
    return config
