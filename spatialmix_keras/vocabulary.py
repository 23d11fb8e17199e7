"""The package's words, defined once: every module and app imports them.

| `freeze`    | paper | learns            |
| ----------- | ----- | ----------------- |
| `"none"`    | Full  | spatial + channel |
| `"spatial"` | Chans | channel only      |
| `"channel"` | Space | spatial only      |
"""

FREEZE_MODES = ("none", "spatial", "channel")
# The paper's names, used in every table and figure.
FREEZE_LABELS = {"none": "Full", "spatial": "Chans", "channel": "Space"}
# Datasets as figures and reports name them.
DATASET_LABELS = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "imagenet2012": "ImageNet",
}
CONVS = ("standard", "separable")  # ResNet convolutions
COMPOSE_MODES = ("auto", "always", "never")  # SpatialSeparableConv2D
PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")
JIT_MODES = ("auto", "on", "off")
OPTIMIZERS = ("sgd", "adamw")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
