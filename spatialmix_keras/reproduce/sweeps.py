"""The runs of every figure at every scale, as library tasks.

Each builder returns the `Run`s of one figure: a training task (`classify`
or `unshuffle`: an experiment config of `configs/` and typed overrides of its
fields) or an evaluation task (`fgsm`, `robustness`, `compare`: the keyword
arguments of its library function), with what its report needs to place
each result (`meta`) and the runs whose exports it reads (`after`).
`running.execute` carries a run out.
"""

from __future__ import annotations

import dataclasses
import os

from configs.vocabulary import (
    DATASET_LABELS,
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


def _smoke_flag(scale):
    return ":smoke" if scale == "smoke" else ""


# ----------------------------------------------------------------- figures
# The data each scale trains on, as the figures label it.
_PANEL = {
    "smoke": "CIFAR-10 (small)",
    "cpu": "Fashion-MNIST",
    "cifar": "CIFAR-10",
    "paper": "CIFAR-10",
}


def _with_seed(scale, seed, name, overrides, meta):
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
                meta = {"depth": n, "freeze": freeze, "panel": _PANEL[scale]}
                overrides = {"model.name": model, "freeze": freeze, **extra}
                name, overrides, meta = _with_seed(
                    scale, seed, f"resnet_n{n}_{freeze}", overrides, meta
                )
                runs.append(
                    Run(
                        name,
                        "classify",
                        f"resnet_cifar10.py{_smoke_flag(scale)}",
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
                    "panel": _PANEL[scale],
                }
                name, overrides, meta = _with_seed(
                    scale, seed, f"convmixer_d{depth}_{freeze}", overrides, meta
                )
                runs.append(
                    Run(
                        name,
                        "classify",
                        f"convmixer_cifar10.py{_smoke_flag(scale)}",
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
            name, _, meta = _with_seed(
                scale, seed, f"filters_{kind}", {}, {"kind": kind}
            )
            overrides = {**random.overrides, "spatial_initializer": init}
            runs.append(
                dataclasses.replace(
                    random, name=name, overrides=overrides, meta=meta
                )
            )
    return runs


def _dataset(scale):
    return "fashion_mnist" if scale == "cpu" else "cifar10"


def _fgsm_run(scale, workdir, train, labels, name="fgsm"):
    """FGSM on every test image (the cifar scale's 10,000 included) of the
    exports of `train`: `fgsm_report.run`'s arguments."""
    names = tuple(r.name for r in train)
    return Run(
        name,
        "fgsm",
        arguments={
            "models": [os.path.join(workdir, "exports", n) for n in names],
            "labels": labels,
            "dataset": _dataset(scale),
            "attacks": ["fgsm"],
            "output_dir": os.path.join(workdir, "runs", name),
            "overwrite": True,
            "small": scale == "smoke",
        },
        after=names,
    )


# The robustness study (`robustness_report.run`) of Figs. 8 and 9: FGSM on
# every test image, PGD-20 (random start) on the first 2,000, transfer
# between every pair of models, and attacks on the weights kept after epochs
# 1 and 3 (cifar).
ROBUSTNESS = {
    "smoke": {
        "small": True,
        "max_examples": 100,
        "pgd_examples": 50,
        "pgd_steps": 2,
    },
    "cpu": {"pgd_examples": 1000},
    "cifar": {},
    "paper": {},
}


def _robustness_run(
    scale, workdir, train, labels, claim, reference, title, name="robustness"
):
    names = tuple(r.name for r in train)
    return Run(
        name,
        "robustness",
        arguments={
            "models": [os.path.join(workdir, "exports", n) for n in names],
            "weights_dirs": (
                [os.path.join(workdir, "runs", n, "weights") for n in names]
                if scale == "cifar"
                else None
            ),
            "labels": labels,
            "dataset": _dataset(scale),
            "claim": claim,
            "reference": reference,
            "title": (
                f"{title} on {DATASET_LABELS[_dataset(scale)]}, {scale} scale"
            ),
            "output_dir": os.path.join(workdir, "runs", name),
            "overwrite": True,
            **ROBUSTNESS[scale],
        },
        after=names,
    )


def _attacked(scale, workdir, train, curve_label, study_label, *study):
    """`train` with its FGSM sweep and robustness study (`study`: claim,
    reference, title) after it. With several seeds (cifar), one sweep and
    one study per seed (`fgsm_s0`, `robustness_s0`, ...), each right after
    its seed's models: a campaign whose work directory may not outlive a
    session can then finish and keep a seed's attacks while its models
    exist. The figure merges them (`robustness.merge`); images are
    transferred between the models of one seed only."""
    groups = {}
    for r in train:
        groups.setdefault(r.meta.get("seed"), []).append(r)
    runs = []
    for seed, members in groups.items():
        suffix = f"_s{seed}" if len(groups) > 1 else ""
        runs += [
            *members,
            _fgsm_run(
                scale,
                workdir,
                members,
                [curve_label(r) for r in members],
                f"fgsm{suffix}",
            ),
            _robustness_run(
                scale,
                workdir,
                members,
                [study_label(r) for r in members],
                *study,
                name=f"robustness{suffix}",
            ),
        ]
    return runs


def _seed_suffix(run):
    return f" s{run.meta['seed']}" if "seed" in run.meta else ""


def fig8_runs(scale, workdir):
    """FGSM on Full / Chans / Space separable ResNets (Fig. 8), and the
    robustness study of the same models."""
    train = [
        r
        for r in resnet_runs(scale)
        if r.meta["depth"] == min(d.meta["depth"] for d in resnet_runs(scale))
    ]
    return _attacked(
        scale,
        workdir,
        train,
        lambda r: LABELS[r.meta["freeze"]] + _seed_suffix(r),
        lambda r: LABELS[r.meta["freeze"]],
        "chans",
        "Full",
        f"Separable ResNet-{6 * train[0].meta['depth'] + 2}",
    )


def fig9_runs(scale, workdir):
    """Smoothed random filters and FGSM (Fig. 9)."""
    sigmas = {
        "smoke": ("none", "1.0"),
        "cpu": ("none", "0.5", "1.0", "2.0"),
        "cifar": ("none", "0.5", "1.0", "2.0"),
        "paper": ("none", "0.5", "1.0", "2.0"),
    }[scale]
    extra = {
        "cpu": {**CPU_CONVMIXER, "model.depth": 4},
        # k = 8 as the paper: a sigma-2 blur inside 5x5 is nearly a box.
        "cifar": {**CIFAR_CONVMIXER, "model.depth": 4},
    }.get(scale, {})
    smoke = "smoke," if scale == "smoke" else ""
    train = []
    for seed in SEEDS[scale]:
        for s in sigmas:
            name, overrides, meta = _with_seed(
                scale, seed, f"smooth_{s}", dict(extra), {"sigma": s}
            )
            train.append(
                Run(
                    name,
                    "classify",
                    f"convmixer_smoothing.py:{smoke}sigma={s}",
                    overrides,
                    meta=meta,
                )
            )
    return _attacked(
        scale,
        workdir,
        train,
        lambda r: f"sigma={r.meta['sigma']}" + _seed_suffix(r),
        lambda r: f"sigma={r.meta['sigma']}",
        "smoothing",
        "sigma=none",
        "ConvMixer with smoothed frozen random filters",
    )


# The cifar-scale Fig. 12 sweep varies depth, width and kernel one at a time
# around its centre; the centre runs on three seeds (claim (e) needs an
# interval), the other points on one (the trend). Measured 2026-12-04 on one
# core of an AMD EPYC (AVX2): with TensorFlow's default there (oneDNN off)
# the centre's Full trains at 17 images/s, ~2.5 h a run; with oneDNN on (the
# apps' default) its training step is 1.9x (Full) and 2.3x (Chans) faster
# (`benchmarks/onednn.py`), ~1.3 h and ~45 min.
CIFAR_UNSHUFFLE_CENTRE = (8, 64, 9)
# (depth, width, kernel) of Fig. 12's centre: the CIFAR-10 un-shufflers the
# grids show, and the runs seeded three times.
_UNSHUFFLE_CENTRE = {
    "smoke": (2, 8, 3),
    "cpu": (5, 64, 7),
    "cifar": CIFAR_UNSHUFFLE_CENTRE,
    "paper": (16, 512, 7),
}


def fig12_runs(scale):
    """Un-shuffling PSNR against depth, width and kernel (Fig. 12); the
    centre point runs on the scale's seeds, the others on seed 0."""
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
        config = "unshuffle_mnist.py" + _smoke_flag(scale)
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
        centre = (d, w, k) == _UNSHUFFLE_CENTRE.get(scale)
        for seed in SEEDS[scale] if centre else (0,):
            for freeze in ("none", "spatial"):
                fill = {"d": d, "w": w, "k": k}
                name, overrides, meta = _with_seed(
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
        centre = _UNSHUFFLE_CENTRE[scale]
        return [r for r in fig12_runs(scale) if unshuffle_point(r) == centre]
    d, w, k = CIFAR_LENGTH_POINT
    runs = []
    for seed in SEEDS[scale]:
        for freeze in ("none", "spatial"):
            name, overrides, meta = _with_seed(
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
                if (r.meta["d"], r.meta["w"], r.meta["k"])
                == _UNSHUFFLE_CENTRE[scale]
                and r.meta["seed"] == 0
            ]
        else:
            trained = [
                Run(
                    f"unshuffle_{dataset}_{freeze}",
                    "unshuffle",
                    "unshuffle_mnist.py" + _smoke_flag(scale),
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
