r"""Separable pre-activation ResNet-18 on ImageNet (paper Fig. 2, right).

SGD with momentum 0.9, L2 weight decay 1e-4, learning rate 0.1 per 256
images (0.05 per 128-image replica batch), step decay x0.1 at epochs 30, 60
and 80 of 90; Inception crop and flips (in the TFDS pipeline). ImageNet comes
from TFDS only, prepared by hand (see `spatialmix_keras.datasets`).

Run on all GPUs of a host (batch 128 per GPU):

    python -m apps.classify --config=configs/resnet_imagenet.py \
        --config.freeze=spatial --tfds_data_dir=/data/tfds

Smoke (needs the prepared TFDS copy; 2 epochs of 5 steps):

    python -m apps.classify --config=configs/resnet_imagenet.py:smoke \
        --tfds_data_dir=/data/tfds

Expected: the paper's Fig. 2 (right) shows the Chans/Full gap shrinking on
ImageNet. Not measured in this project (no ImageNet here).
"""

from spatialmix_keras import schema


def get_config(arg: str | None = None):
    config = schema.base_config()
    config.dataset = "imagenet2012"
    config.model.name = "resnet18_imagenet"
    config.epochs = 90
    config.batch_size = 128
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.05
    config.optimizer.weight_decay = 1e-4
    config.schedule.name = "step"
    config.schedule.boundaries = (30 / 90, 60 / 90, 80 / 90)
    config.augment = schema.augment_config(flip=True)
    if arg == "smoke":
        schema.shrink_for_smoke(config, small=False, batch_size=16)
        config.model.name = "resnet10_imagenet"
    elif arg:
        raise schema.invalid_config_argument(arg)
    return config
