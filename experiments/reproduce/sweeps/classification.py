"""The classification sweeps: separable ResNets and ConvMixers against
depth (Figs. 2-4, 6, 7) and fixed filter types (Fig. 5)."""

from __future__ import annotations

import dataclasses

from .common import (
    CIFAR_CONVMIXER,
    CIFAR_RESNET,
    CPU_CONVMIXER,
    CPU_DATA,
    FREEZES,
    PANEL,
    SEEDS,
    Run,
    smoke_flag,
    with_seed,
)


def resnet_runs(scale, imagenet=False):
    """Separable ResNets, Full / Chans / Space, against depth (Figs. 2, 3).

    With `imagenet` (Fig. 2 at paper scale only: ImageNet comes from a
    prepared TFDS copy, see `configs/resnet_imagenet.py`), the ImageNet
    ResNets (8n+2 layers) join the CIFAR ones.
    """
    depths = {
        "smoke": (1,),
        "cpu": (1, 2, 3),
        "cifar": (1, 2, 3),
        "paper": (1, 2, 3, 5, 9),
    }
    extra = {"cpu": CPU_DATA, "cifar": CIFAR_RESNET}.get(scale, {})
    runs = []
    # Depth-major, then seed, then mode: an interrupted campaign has whole
    # Full / Chans / Space pairs, shallowest (Fig. 8's) first.
    for n in depths[scale]:
        model = "resnet_tiny" if scale == "smoke" else f"resnet{6 * n + 2}"
        for seed in SEEDS[scale]:
            for freeze in FREEZES:
                meta = {"depth": n, "freeze": freeze, "panel": PANEL[scale]}
                overrides = {"model.name": model, "freeze": freeze, **extra}
                name, overrides, meta = with_seed(
                    scale, seed, f"resnet_n{n}_{freeze}", overrides, meta
                )
                runs.append(
                    Run(
                        name,
                        "classify",
                        f"resnet_cifar10.py{smoke_flag(scale)}",
                        overrides,
                        meta=meta,
                    )
                )
    if imagenet and scale == "paper":
        for n in (1, 2, 3):
            for freeze in FREEZES:
                runs.append(
                    Run(
                        f"resnet_imagenet_n{n}_{freeze}",
                        "classify",
                        "resnet_imagenet.py",
                        {
                            "model.name": f"resnet{8 * n + 2}_imagenet",
                            "freeze": freeze,
                        },
                        meta={
                            "depth": n,
                            "freeze": freeze,
                            "panel": "ImageNet",
                        },
                    )
                )
    return runs


def convmixer_runs(scale):
    """ConvMixers, Full / Chans / Space, against depth (Figs. 4, 6, 7)."""
    depths = {
        "smoke": (2,),
        "cpu": (2, 4, 6),
        "cifar": (2, 4, 6),
        "paper": (2, 4, 8, 16),
    }
    extra = {"cpu": CPU_CONVMIXER, "cifar": CIFAR_CONVMIXER}.get(scale, {})
    runs = []
    for depth in depths[scale]:
        for seed in SEEDS[scale]:
            for freeze in FREEZES:
                overrides = {"freeze": freeze, "model.depth": depth, **extra}
                meta = {
                    "depth": depth,
                    "freeze": freeze,
                    "panel": PANEL[scale],
                }
                name, overrides, meta = with_seed(
                    scale, seed, f"convmixer_d{depth}_{freeze}", overrides, meta
                )
                runs.append(
                    Run(
                        name,
                        "classify",
                        f"convmixer_cifar10.py{smoke_flag(scale)}",
                        overrides,
                        meta=meta,
                    )
                )
    return runs


def filter_runs(scale):
    """Learned vs fixed filter types in a separable ResNet (Fig. 5).

    "learned" and "random" are the shallowest Full and Chans runs of Figs.
    2 and 8 (the same runs, in their directory: trained once); "same",
    "box" and "identity" change only the frozen filters' initializer of the
    random run.
    """
    resnets = resnet_runs(scale)
    shallowest = {
        (r.meta["freeze"], r.meta.get("seed", 0)): r
        for r in resnets
        if r.meta["depth"] == resnets[0].meta["depth"]
    }
    fixed = [
        ("same", "same_random"),
        ("box", "box"),
        ("identity", "identity"),
    ]
    runs = []
    for seed in SEEDS[scale]:
        random = shallowest[("spatial", seed)]
        for kind, run in (
            ("learned", shallowest[("none", seed)]),
            ("random", random),
        ):
            runs.append(
                dataclasses.replace(run, meta={**run.meta, "kind": kind})
            )
        for kind, init in fixed:
            name, _, meta = with_seed(
                scale, seed, f"filters_{kind}", {}, {"kind": kind}
            )
            overrides = {**random.overrides, "spatial_initializer": init}
            runs.append(
                dataclasses.replace(
                    random, name=name, overrides=overrides, meta=meta
                )
            )
    return runs
