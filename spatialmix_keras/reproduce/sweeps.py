"""The runs of every figure at every scale, as app commands.

Each builder returns the `Run`s of one figure: the `classify`, `unshuffle`
or `fgsm` commands, made from the configs, with what its report needs to
place each result (`meta`) and the runs whose exports it reads (`after`).
"""

from __future__ import annotations

import dataclasses
import os

SCALES = ("smoke", "cpu", "paper")
FREEZES = ("none", "spatial", "channel")
LABELS = {"none": "Full", "spatial": "Chans", "channel": "Space"}
# The cpu scale trains on Fashion-MNIST (full split, in shared/data) for two
# epochs of 100 steps (25,600 images drawn from the shuffled 60,000: that is
# what fits Figs. 2, 4 and 5 into ~1 hour together on 2 cores) and tests on
# all 10,000 test images; its ConvMixers are narrower, with a smaller kernel
# and patch 2.
CPU_DATA = (
    "--dataset=fashion_mnist",
    "--epochs=2",
    "--config.steps_per_epoch=100",
)
CPU_CONVMIXER = (
    *CPU_DATA,
    "--config.model_kwargs.dim=64",
    "--config.model_kwargs.kernel_size=5",
    "--config.model_kwargs.patch_size=2",
)


@dataclasses.dataclass(frozen=True)
class Run:
    """One command of a sweep.

    Attributes:
        name: unique within its figure's work directory.
        app: `classify`, `unshuffle` or `fgsm`.
        args: the app's flags (config and overrides).
        meta: what the report needs to place it (freeze, depth, ...).
        after: names of runs whose exports this one reads.
    """

    name: str
    app: str
    args: tuple[str, ...]
    meta: dict = dataclasses.field(default_factory=dict, hash=False)
    after: tuple[str, ...] = ()


def _smoke_flag(scale):
    return ":smoke" if scale == "smoke" else ""


# ----------------------------------------------------------------- figures
# The data each scale trains on, as the figures label it.
_PANEL = {
    "smoke": "CIFAR-10 (small)",
    "cpu": "Fashion-MNIST",
    "paper": "CIFAR-10",
}


def resnet_runs(scale, imagenet=False):
    """Separable ResNets, Full / Chans / Space, against depth (Figs. 2, 3).

    With `imagenet` (Fig. 2 at paper scale only: ImageNet comes from a
    prepared TFDS copy, see `configs/resnet_imagenet.py`), the ImageNet
    ResNets (8n+2 layers) join the CIFAR ones.
    """
    depths = {"smoke": (1,), "cpu": (1, 2, 3), "paper": (1, 2, 3, 5, 9)}
    extra = CPU_DATA if scale == "cpu" else ()
    runs = []
    for n in depths[scale]:
        model = "resnet_tiny" if scale == "smoke" else f"resnet{6 * n + 2}"
        for freeze in FREEZES:
            args = (
                f"--config=configs/resnet_cifar10.py{_smoke_flag(scale)}",
                f"--model={model}",
                f"--freeze={freeze}",
                *extra,
            )
            runs.append(
                Run(
                    f"resnet_n{n}_{freeze}",
                    "classify",
                    args,
                    {"depth": n, "freeze": freeze, "panel": _PANEL[scale]},
                )
            )
    if imagenet and scale == "paper":
        for n in (1, 2, 3):
            for freeze in FREEZES:
                runs.append(
                    Run(
                        f"resnet_imagenet_n{n}_{freeze}",
                        "classify",
                        (
                            "--config=configs/resnet_imagenet.py",
                            f"--model=resnet{8 * n + 2}_imagenet",
                            f"--freeze={freeze}",
                        ),
                        {"depth": n, "freeze": freeze, "panel": "ImageNet"},
                    )
                )
    return runs


def convmixer_runs(scale):
    """ConvMixers, Full / Chans / Space, against depth (Figs. 4, 6, 7)."""
    depths = {"smoke": (2,), "cpu": (2, 4, 6), "paper": (2, 4, 8, 16)}
    extra = CPU_CONVMIXER if scale == "cpu" else ()
    runs = []
    for depth in depths[scale]:
        for freeze in FREEZES:
            args = (
                f"--config=configs/convmixer_cifar10.py{_smoke_flag(scale)}",
                f"--freeze={freeze}",
                f"--config.model_kwargs.depth={depth}",
                *extra,
            )
            runs.append(
                Run(
                    f"convmixer_d{depth}_{freeze}",
                    "classify",
                    args,
                    {"depth": depth, "freeze": freeze, "panel": _PANEL[scale]},
                )
            )
    return runs


def filter_runs(scale):
    """Learned vs fixed filter types in a separable ResNet (Fig. 5)."""
    base = resnet_runs(scale)[0].args[:2]  # config and model of depth 1
    extra = CPU_DATA if scale == "cpu" else ()
    kinds = [
        ("learned", "none", "spatial_random"),
        ("random", "spatial", "spatial_random"),
        ("same", "spatial", "same_random"),
        ("box", "spatial", "box"),
        ("identity", "spatial", "identity"),
    ]
    return [
        Run(
            f"filters_{kind}",
            "classify",
            (
                *base,
                f"--freeze={freeze}",
                f"--spatial_initializer={init}",
                *extra,
            ),
            {"kind": kind},
        )
        for kind, freeze, init in kinds
    ]


def _fgsm_args(scale, exports, names, labels, out):
    small = ("--small",) if scale == "smoke" else ()
    dataset = "fashion_mnist" if scale == "cpu" else "cifar10"
    return (
        *[f"--model={os.path.join(exports, n)}" for n in names],
        *[f"--label={label}" for label in labels],
        f"--dataset={dataset}",
        "--attack=fgsm",
        f"--output_dir={out}",
        "--overwrite",
        *small,
    )


def fig8_runs(scale, workdir):
    """FGSM on Full / Chans / Space separable ResNets (Fig. 8)."""
    train = [
        r
        for r in resnet_runs(scale)
        if r.meta["depth"] == min(d.meta["depth"] for d in resnet_runs(scale))
    ]
    names = [r.name for r in train]
    exports = os.path.join(workdir, "exports")
    attack = Run(
        "fgsm",
        "fgsm",
        _fgsm_args(
            scale,
            exports,
            names,
            [LABELS[r.meta["freeze"]] for r in train],
            os.path.join(workdir, "runs", "fgsm"),
        ),
        {},
        tuple(names),
    )
    return [*train, attack]


def fig9_runs(scale, workdir):
    """Smoothed random filters and FGSM (Fig. 9)."""
    sigmas = {
        "smoke": ("none", "1.0"),
        "cpu": ("none", "0.5", "1.0", "2.0"),
        "paper": ("none", "0.5", "1.0", "2.0"),
    }[scale]
    extra = (
        (*CPU_CONVMIXER, "--config.model_kwargs.depth=4")
        if scale == "cpu"
        else ()
    )
    smoke = "smoke," if scale == "smoke" else ""
    train = [
        Run(
            f"smooth_{s}",
            "classify",
            (
                f"--config=configs/convmixer_smoothing.py:{smoke}sigma={s}",
                *extra,
            ),
            {"sigma": s},
        )
        for s in sigmas
    ]
    exports = os.path.join(workdir, "exports")
    attack = Run(
        "fgsm",
        "fgsm",
        _fgsm_args(
            scale,
            exports,
            [r.name for r in train],
            [f"sigma={s}" for s in sigmas],
            os.path.join(workdir, "runs", "fgsm"),
        ),
        {},
        tuple(r.name for r in train),
    )
    return [*train, attack]


def fig12_runs(scale):
    """Un-shuffling PSNR against depth, width and kernel (Fig. 12)."""
    if scale == "paper":
        points = (
            [(d, 512, 7) for d in (4, 8, 16)]
            + [(16, w, 7) for w in (128, 256)]
            + [(16, 512, k) for k in (3, 5)]
        )
        config = "configs/unshuffle_cifar10.py:d={d},w={w},k={k}"
        extra = ()
    else:
        points = {
            "smoke": [(2, 8, 3)],
            # Depth 3/5/7, width 32/64, kernel 3/7 around the CPU recipe.
            "cpu": [
                (3, 64, 7),
                (5, 64, 7),
                (7, 64, 7),
                (5, 32, 7),
                (5, 64, 3),
            ],
        }[scale]
        config = "configs/unshuffle_mnist.py" + _smoke_flag(scale)
        # cpu: 2 epochs of 320 batches of 64 (40,960 images; the recipe's
        # 4 full epochs take ~16 min a run, too long for 10 runs).
        cpu = ("--epochs=2", "--config.steps_per_epoch=320")
        extra = (
            *(cpu if scale == "cpu" else ()),
            "--config.model_kwargs.depth={d}",
            "--config.model_kwargs.dim={w}",
            "--config.model_kwargs.kernel_size={k}",
        )
    runs = []
    for d, w, k in points:
        for freeze in ("none", "spatial"):
            fill = {"d": d, "w": w, "k": k}
            args = (
                f"--config={config.format(**fill)}",
                f"--freeze={freeze}",
                *[e.format(**fill) for e in extra],
            )
            runs.append(
                Run(
                    f"unshuffle_d{d}_w{w}_k{k}_{freeze}",
                    "unshuffle",
                    args,
                    {"d": d, "w": w, "k": k, "freeze": freeze},
                )
            )
    return runs


def grid_runs(scale, workdir):
    """Full and Chans un-shufflers and their reconstructions (Figs. 10, 11,
    13)."""
    datasets = {
        "smoke": ("mnist",),
        "cpu": ("mnist", "fashion_mnist"),
        "paper": ("mnist", "fashion_mnist", "cifar10"),
    }[scale]
    runs = []
    for dataset in datasets:
        if dataset == "cifar10":
            config = "configs/unshuffle_cifar10.py"
        else:
            config = "configs/unshuffle_mnist.py" + _smoke_flag(scale)
        names = []
        for freeze in ("none", "spatial"):
            name = f"unshuffle_{dataset}_{freeze}"
            names.append(name)
            runs.append(
                Run(
                    name,
                    "unshuffle",
                    (
                        f"--config={config}",
                        f"--dataset={dataset}",
                        f"--freeze={freeze}",
                    ),
                    {"dataset": dataset},
                )
            )
        exports = os.path.join(workdir, "exports")
        small = ("--small",) if scale == "smoke" else ()
        out = os.path.join(workdir, "runs", f"grid_{dataset}.png")
        runs.append(
            Run(
                f"grid_{dataset}",
                "unshuffle",
                (
                    *[f"--compare={os.path.join(exports, n)}" for n in names],
                    f"--output={out}",
                    *small,
                ),
                {"dataset": dataset, "output": out},
                tuple(names),
            )
        )
    return runs
