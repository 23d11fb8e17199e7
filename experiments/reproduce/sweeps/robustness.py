"""The robustness sweeps: FGSM curves and the robustness study (white-box,
transfer, training length) of Fig. 8's ResNets and Fig. 9's smoothed
ConvMixers."""

from __future__ import annotations

import os

from spatialmix_keras.vocabulary import DATASET_LABELS

from .classification import resnet_runs
from .common import (
    CIFAR_CONVMIXER,
    CPU_CONVMIXER,
    LABELS,
    SEEDS,
    Run,
    with_seed,
)


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
    its seed's models: a campaign whose work directory may not outlive its
    machine can then finish and keep a seed's attacks while its models
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
            name, overrides, meta = with_seed(
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
