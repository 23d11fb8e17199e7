"""The un-shuffling sweeps: PSNR against depth, width and kernel (Fig. 12),
against training length (`unshuffle_length`), and the reconstruction grids
(Figs. 10, 11, 13)."""

from __future__ import annotations

import dataclasses
import os

from .common import (
    SEEDS,
    Run,
    smoke_flag,
    with_seed,
)

# The cifar-scale Fig. 12 sweep varies depth, width and kernel one at a time
# around its centre, every point on three seeds (at least three per point;
# before 333dcda the points off the centre had seed 0 only). At the
# `cpu` scale the centre runs on the scale's seeds, the others on seed 0 (the
# trend). Measured 2026-12-04 on one
# core of an AMD EPYC (AVX2): with TensorFlow's default there (oneDNN off)
# the centre's Full trains at 17 images/s, ~2.5 h a run; with oneDNN on (the
# apps' default) its training step is 1.9x (Full) and 2.3x (Chans) faster
# (`benchmarks/onednn.py`), ~1.3 h and ~45 min.
CIFAR_UNSHUFFLE_CENTRE = (8, 64, 9)
# (depth, width, kernel) of Fig. 12's centre: the CIFAR-10 un-shufflers the
# grids show (seed 0), and at the other scales the only point seeded more
# than once.
UNSHUFFLE_CENTRE = {
    "smoke": (2, 8, 3),
    "cpu": (5, 64, 7),
    "cifar": CIFAR_UNSHUFFLE_CENTRE,
    "paper": (16, 512, 7),
}


def fig12_runs(scale):
    """Un-shuffling PSNR against depth, width and kernel (Fig. 12); at
    `cifar` scale every point runs on the scale's seeds, at the others only
    the centre does (the rest on seed 0)."""
    if scale == "paper":
        points = (
            [(d, 512, 7) for d in (4, 8, 16)]
            + [(16, w, 7) for w in (128, 256)]
            + [(16, 512, k) for k in (3, 5)]
        )
        config = "unshuffle_cifar10.py:d={d},w={w},k={k}"
        extra = {}
    elif scale == "cifar":
        # CIFAR-10 at 32x32x3 on a CPU: width 64, kernel 9 (receptive field
        # 1 + 8 d: 33 at depth 4, 65 at depth 8, enough to move any pixel
        # anywhere), 3 epochs.
        points = [CIFAR_UNSHUFFLE_CENTRE, (4, 64, 9), (8, 32, 9), (8, 64, 5)]
        config = "unshuffle_cifar10.py:d={d},w={w},k={k}"
        extra = {"epochs": 3}
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
        config = "unshuffle_mnist.py" + smoke_flag(scale)
        # cpu: 2 epochs of 320 batches of 64 (40,960 images; the recipe's
        # 4 full epochs take ~16 min a run, too long for 10 runs).
        extra = {
            **({"epochs": 2, "steps_per_epoch": 320} if scale == "cpu" else {}),
            "model.depth": "{d}",
            "model.dim": "{w}",
            "model.kernel_size": "{k}",
        }
    runs = []
    for d, w, k in points:
        seeded = scale == "cifar" or (d, w, k) == UNSHUFFLE_CENTRE[scale]
        for seed in SEEDS[scale] if seeded else (0,):
            for freeze in ("none", "spatial"):
                fill = {"d": d, "w": w, "k": k}
                name, overrides, meta = with_seed(
                    scale,
                    seed,
                    f"unshuffle_d{d}_w{w}_k{k}_{freeze}",
                    {
                        "freeze": freeze,
                        **{
                            key: int(v.format(**fill))
                            if isinstance(v, str)
                            else v
                            for key, v in extra.items()
                        },
                    },
                    {**fill, "freeze": freeze, "seed": seed},
                )
                runs.append(
                    Run(
                        name,
                        "unshuffle",
                        config.format(**fill),
                        overrides,
                        meta=meta,
                    )
                )
    return runs


# Un-shuffling against training length (not a figure of the paper): claim
# (e) at 3 epochs was undecided with both modes still improving, so at
# `cifar` scale the sweep's cheapest point (width 32: 13 min a Full run of 3
# epochs on one core of the AVX-512 EPYC, against 32-44 min at the centre)
# trains 10 epochs on three seeds; each run's history gives PSNR after
# every epoch. Other scales reuse Fig. 12's centre runs (no training of
# their own).
CIFAR_LENGTH_POINT = (8, 32, 9)
CIFAR_LENGTH_EPOCHS = 10


def unshuffle_length_runs(scale):
    """Un-shufflers whose per-epoch test PSNR shows whether Chans closes
    on Full with training; at `cifar` scale longer runs of their own."""
    if scale != "cifar":
        centre = UNSHUFFLE_CENTRE[scale]
        return [r for r in fig12_runs(scale) if unshuffle_point(r) == centre]
    d, w, k = CIFAR_LENGTH_POINT
    runs = []
    for seed in SEEDS[scale]:
        for freeze in ("none", "spatial"):
            name, overrides, meta = with_seed(
                scale,
                seed,
                f"unshuffle_d{d}_w{w}_k{k}_e{CIFAR_LENGTH_EPOCHS}_{freeze}",
                {"freeze": freeze, "epochs": CIFAR_LENGTH_EPOCHS},
                {"d": d, "w": w, "k": k, "freeze": freeze},
            )
            runs.append(
                Run(
                    name,
                    "unshuffle",
                    f"unshuffle_cifar10.py:d={d},w={w},k={k}",
                    overrides,
                    meta=meta,
                )
            )
    return runs


def unshuffle_point(run):
    """An un-shuffling run's `(depth, width, kernel)`."""
    return tuple(run.meta[o] for o in "dwk")


def grid_runs(scale, workdir):
    """Full and Chans un-shufflers and their reconstructions (Figs. 10, 11,
    13)."""
    datasets = {
        "smoke": ("mnist",),
        "cpu": ("mnist", "fashion_mnist"),
        "cifar": ("cifar10",),
        "paper": ("mnist", "fashion_mnist", "cifar10"),
    }[scale]
    runs = []
    for dataset in datasets:
        if dataset == "cifar10":
            # Fig. 12's centre point, seed 0: the same runs (the two figures
            # share a work directory), trained once.
            trained = [
                dataclasses.replace(r, meta={**r.meta, "dataset": dataset})
                for r in fig12_runs(scale)
                if unshuffle_point(r) == UNSHUFFLE_CENTRE[scale]
                and r.meta["seed"] == 0
            ]
        else:
            trained = [
                Run(
                    f"unshuffle_{dataset}_{freeze}",
                    "unshuffle",
                    "unshuffle_mnist.py" + smoke_flag(scale),
                    {"dataset": dataset, "freeze": freeze},
                    meta={"dataset": dataset},
                )
                for freeze in ("none", "spatial")
            ]
        runs.extend(trained)
        names = [r.name for r in trained]
        out = os.path.join(workdir, "runs", f"grid_{dataset}.png")
        runs.append(
            Run(
                f"grid_{dataset}",
                "compare",
                arguments={
                    "models": [
                        os.path.join(workdir, "exports", n) for n in names
                    ],
                    "output": out,
                    "small": scale == "smoke",
                },
                meta={"dataset": dataset, "output": out},
                after=tuple(names),
            )
        )
    return runs
