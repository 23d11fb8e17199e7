"""What every figure's sweep shares: the scales, their seeds and data, and
`Run`, one library task of a sweep."""

from __future__ import annotations

import dataclasses

from spatialmix_keras.vocabulary import (
    FREEZE_LABELS,
    FREEZE_MODES,
)

SCALES = ("smoke", "cpu", "cifar", "paper")
FREEZES = FREEZE_MODES
LABELS = FREEZE_LABELS
# The cpu scale trains on Fashion-MNIST (full split, in shared/data) for two
# epochs of 100 steps (25,600 images drawn from the shuffled 60,000: that is
# what fits Figs. 2, 4 and 5 into ~1 hour together on 2 cores) and tests on
# all 10,000 test images; its ConvMixers are narrower, with a smaller kernel
# and patch 2.
CPU_DATA = {"dataset": "fashion_mnist", "epochs": 2, "steps_per_epoch": 100}
# The cifar scale trains on all 50,000 CIFAR-10 images (crop + flip, cosine
# schedule) and tests on all 10,000, with three seeds per point, paired: the
# Full, Chans and Space runs of one seed share the pointwise initialisation
# and the data order, and Full starts from exactly the depthwise filters that
# Chans keeps frozen (all derive from `--config.seed`). The weights after
# epochs 0, 1 and 3 are kept for the robustness-against-training-length
# study. Sized from measured throughput on one core of the 2-core dev CPU
# (AMD EPYC, a training step of 128 images, float32): separable ResNet-8
# 0.31-0.37 s (a 10-epoch run 23-28 min), ResNet-14 0.65-0.70 s, ResNet-20
# 0.93-1.05 s. ConvMixers of width 128 and kernel 8 took 0.6-0.8 s (depth 2),
# 1.0-1.7 s (depth 4) and 1.7-2.7 s (depth 6) at patch 2, i.e. 1-3 hours a
# run and ~45 hours for Fig. 4 alone; at patch 4 (8 x 8 tokens, which kernel
# 8 still spans) 0.19, 0.28-0.41 and 0.39-0.51 s: 13-30 min a run, which is
# what the cifar scale uses.
CIFAR_SEEDS = (0, 1, 2)
CIFAR_EPOCHS = {"resnet": 10, "convmixer": 10}
CIFAR_DATA = {"dataset": "cifar10", "save_weights_epochs": (0, 1, 3)}
CIFAR_CONVMIXER = {
    **CIFAR_DATA,
    "epochs": CIFAR_EPOCHS["convmixer"],
    "model.dim": 128,
    "model.kernel_size": 8,
    "model.patch_size": 4,
}
CIFAR_RESNET = {**CIFAR_DATA, "epochs": CIFAR_EPOCHS["resnet"]}
SEEDS = {"smoke": (0,), "cpu": (0,), "cifar": CIFAR_SEEDS, "paper": (0,)}
CPU_CONVMIXER = {
    **CPU_DATA,
    "model.dim": 64,
    "model.kernel_size": 5,
    "model.patch_size": 2,
}

TRAINING_TASKS = ("classify", "unshuffle")
TASKS = (*TRAINING_TASKS, "fgsm", "robustness", "compare")


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a sweep.

    Attributes:
        name: unique within its figure's work directory.
        task: one of `TASKS`: training (`classify`, `unshuffle`) or
            evaluating exports (`fgsm`, `robustness`, `compare`).
        config: a training task's experiment, `"<file in configs/>[:arg]"`
            as `--config` takes it (e.g. `"resnet_cifar10.py:smoke"`).
        overrides: a training task's config fields, dotted, with typed
            values (`{"model.name": "resnet8", "epochs": 10}`).
        arguments: an evaluation task's keyword arguments.
        meta: what the report needs to place it (freeze, depth, ...).
        after: names of runs whose exports this one reads.
    """

    name: str
    task: str
    config: str | None = None
    overrides: dict = dataclasses.field(default_factory=dict, hash=False)
    arguments: dict = dataclasses.field(default_factory=dict, hash=False)
    meta: dict = dataclasses.field(default_factory=dict, hash=False)
    after: tuple[str, ...] = ()


def smoke_flag(scale):
    """The config argument that shrinks a run at `smoke` scale."""
    return ":smoke" if scale == "smoke" else ""


# The data each scale trains on, as the figures label it.
PANEL = {
    "smoke": "CIFAR-10 (small)",
    "cpu": "Fashion-MNIST",
    "cifar": "CIFAR-10",
    "paper": "CIFAR-10",
}


def with_seed(scale, seed, name, overrides, meta):
    """`(name, overrides, meta)` of one run for one seed: the seed joins the
    name and the config only where a scale has several (the cpu runs keep
    their names and configs)."""
    if len(SEEDS[scale]) == 1:
        return name, overrides, meta
    return (
        f"{name}_s{seed}",
        {**overrides, "seed": seed},
        {**meta, "seed": seed},
    )
