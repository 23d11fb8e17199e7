"""The package's words, defined once: the library, the apps and the config
schema (`spatialmix_keras.schema`) import them from here. Plain Python, so that
flags and configs are parsed without TensorFlow.

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
    "cifar10": "CIFAR-10",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "imagenet2012": "ImageNet",
}
DATASETS = tuple(DATASET_LABELS)  # `datasets.DATASETS` describes each
SPATIAL_INITIALIZERS = (  # `initializers.ALIASES` maps each to its class
    "spatial_random",
    "same_random",
    "box",
    "identity",
    "smoothed",
)
SCHEDULES = ("constant", "step", "cosine", "onecycle")  # `schedules.py`
CONVS = ("standard", "separable")  # ResNet convolutions
COMPOSE_MODES = ("auto", "always", "never")  # SpatialSeparableConv2D
PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")
JIT_MODES = ("auto", "on", "off")
OPTIMIZERS = ("sgd", "adamw")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
# The named models of `models.VARIANTS`, so that a misspelt name is refused
# while flags are parsed (a test keeps the two equal).
MODEL_NAMES = (
    "resnet_tiny", "resnet8", "resnet14", "resnet20", "resnet32", "resnet44",
    "resnet56", "resnet110", "resnet10_imagenet", "resnet18_imagenet",
    "resnet26_imagenet", "convmixer_tiny", "convmixer_128_4",
    "convmixer_128_8", "convmixer_256_8", "convmixer_256_16",
    "unshuffler_tiny", "unshuffler_64_5", "unshuffler_128_8",
    "unshuffler_512_16",
)  # fmt: skip
# Attack budgets on [0, 1] pixels, as the apps' flags take them: the
# robustness study's, and `apps.fgsm`'s sweep (clean first).
FGSM_EPS = "0.5/255,1/255,2/255,4/255,8/255"
PGD_EPS = "2/255,8/255"
FGSM_SWEEP_EPS = "0," + FGSM_EPS
