"""Matplotlib figures in the paper's form (written as PNG files)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spatialmix_keras import files  # noqa: E402


def _save(fig, path: str) -> str:
    """Lays out, writes (atomically) and closes a figure: `path`."""
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.atomic_write(path, fig.savefig)
    plt.close(fig)
    return path


def accuracy_axis(ax, chance: float | None = None, label="accuracy") -> None:
    """An accuracy axis in percent from 0 to 100, with a dotted chance line
    (`chance`, a fraction) where one is given."""
    ax.set_ylabel(f"{label} (%)")
    ax.set_ylim(0, 100)
    if chance is not None:
        ax.axhline(100 * chance, color="gray", ls=":", lw=1, label="chance")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_eps_sweep(
    curves, path: str, title: str = "", chance: float | None = 0.1
) -> str:
    """Accuracy against epsilon, one line per model and attack (Figs. 8, 9).

    Args:
        curves: dicts with `label`, `attack`, `eps` (on [0, 1]) and
            `accuracy`.
        path: PNG file to write.
        title: figure title.
        chance: chance accuracy (a fraction; CIFAR-10's by default), drawn
            as a dotted line; None for none.

    Returns:
        `path`.
    """
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    labels = list(dict.fromkeys(c["label"] for c in curves))
    for curve in curves:
        # Models side by side at each epsilon: no marker hides another.
        shift = 0.04 * (labels.index(curve["label"]) - (len(labels) - 1) / 2)
        eps255 = [255 * e + shift for e in curve["eps"]]
        style = "-o" if curve["attack"] == "fgsm" else "--s"
        ax.plot(
            eps255,
            [100 * a for a in curve["accuracy"]],
            style,
            markersize=4,
            label=f"{curve['label']} ({curve['attack'].upper()})",
        )
    ax.set_xlabel("epsilon (x 1/255)")
    accuracy_axis(ax, chance)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_reconstructions(
    original, shuffled, rows, path: str, title: str = ""
) -> str:
    """Un-shuffling grid (Figs. 10, 11, 13): original, shuffled, then one
    row of reconstructions per model.

    Args:
        original, shuffled: `(N, H, W, C)` float images in [0, 1].
        rows: `[(label, reconstructions), ...]`, each `(N, H, W, C)`.
        path: PNG file to write.
        title: figure title.

    Returns:
        `path`.
    """
    import numpy as np

    all_rows = [("original", original), ("shuffled", shuffled), *rows]
    count = len(original)
    fig, axes = plt.subplots(
        len(all_rows),
        count,
        squeeze=False,
        figsize=(1.2 * count + 1.0, 1.25 * len(all_rows)),
        dpi=120,
    )
    for r, (label, images) in enumerate(all_rows):
        images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
        for c in range(count):
            ax = axes[r][c]
            image = images[c]
            if image.shape[-1] == 1:
                ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(
                    label, fontsize=7, rotation=0, ha="right", va="center"
                )
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def study_labels(results) -> list[str]:
    """The labels of a robustness study's subjects, in their first order."""
    return list(dict.fromkeys(e["label"] for e in results["subjects"]))


def _band(ax, x, groups, label, style, scale=1.0):
    """Mean over seeds with a 95% t band (a line alone for one seed), of
    the values times `scale` (100: fractions as percent)."""
    from spatialmix_keras import stats

    summary = [stats.mean_ci([scale * v for v in g]) for g in groups]
    mean = [m for m, _, _ in summary]
    (line,) = ax.plot(x, mean, style, markersize=4, label=label)
    if len(groups[0]) > 1:
        ax.fill_between(
            x,
            [low for _, low, _ in summary],
            [high for _, _, high in summary],
            color=line.get_color(),
            alpha=0.2,
            linewidth=0,
        )


def plot_robustness(
    results, path: str, title: str = "", chance: float | None = 0.1
) -> str:
    """White-box FGSM (all images) and PGD (subset) accuracy against
    epsilon: the mean over seeds of each label with its 95% band, in
    percent, with the chance line (`chance`, a fraction)."""
    s = results["settings"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120, sharey=True)
    labels = study_labels(results)
    for k, label in enumerate(labels):
        group = [e for e in results["subjects"] if e["label"] == label]
        fgsm = [[e["white_box"]["clean_accuracy"] for e in group]] + [
            [e["white_box"]["fgsm"][i] for e in group]
            for i in range(len(s["fgsm_eps"]))
        ]
        pgd = [[e["subset"]["clean_accuracy"] for e in group]] + [
            [e["subset"]["pgd"][i] for e in group]
            for i in range(len(s["pgd_eps"]))
        ]
        name = f"{label} ({len(group)} seed{'s' * (len(group) > 1)})"
        # Labels side by side at each epsilon: no marker hides another.
        shift = 0.04 * (k - (len(labels) - 1) / 2)
        for ax, eps, values, style in (
            (axes[0], s["fgsm_eps"], fgsm, "-o"),
            (axes[1], s["pgd_eps"], pgd, "--s"),
        ):
            x = [shift] + [255 * e + shift for e in eps]
            _band(ax, x, values, name, style, scale=100)
    axes[0].set_title(f"FGSM, {s['examples']} test images")
    axes[1].set_title(
        f"PGD-{s['pgd_steps']} (random start"
        + (
            f", {s['pgd_restarts']} restarts"
            if s.get("pgd_restarts", 1) > 1
            else ""
        )
        + f"), first {s['pgd_examples']}"
    )
    for ax in axes:
        ax.set_xlabel("epsilon (x 1/255)")
        accuracy_axis(ax, chance, "accuracy, mean and 95% band over seeds")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_training_length(
    results, path: str, title: str = "", chance: float | None = 0.1
) -> str:
    """Against the training epoch: FGSM and PGD accuracy at the smallest
    PGD epsilon (subset, in percent, with the chance line), how far the
    depthwise filters moved from their initialisation, and their
    high-frequency energy share."""
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.8), dpi=120)
    panels = _length_panels(results["settings"])
    for ax, (ylabel, value, ylim, scale) in zip(axes, panels, strict=True):
        drawn = _length_panel(ax, results, value, scale)
        if drawn and scale == 100 and chance is not None:
            ax.axhline(100 * chance, color="gray", ls=":", lw=1, label="chance")
        ax.set_xlabel("epoch")
        ax.set_title(ylabel, fontsize=9)
        ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=7)
        else:  # e.g. no attacks at kept checkpoints (none were kept)
            ax.text(
                0.5, 0.5, "not measured", ha="center", transform=ax.transAxes
            )
    axes[0].set_ylabel("mean and 95% band over seeds")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _length_panels(s):
    """(title, value of a point, y limits, scale) of each training-length
    panel: accuracies at the smallest PGD epsilon in percent from 0 to 100,
    filter movement from 0; the energy share alone zooms in (its title says
    so): it moves by a few hundredths."""
    eps = s["pgd_eps"][0]
    fgsm_index = min(
        range(len(s["fgsm_eps"])), key=lambda i: abs(s["fgsm_eps"][i] - eps)
    )
    return (
        (
            "clean accuracy (%)",
            lambda p: p.get("clean_accuracy"),
            (0, 100),
            100,
        ),
        (
            f"FGSM accuracy (%), eps {255 * s['fgsm_eps'][fgsm_index]:g}/255",
            lambda p: p.get("fgsm", [None] * len(s["fgsm_eps"]))[fgsm_index],
            (0, 100),
            100,
        ),
        (
            f"PGD accuracy (%), eps {255 * eps:g}/255",
            lambda p: p.get("pgd", [None])[0],
            (0, 100),
            100,
        ),
        (
            "filter movement ||D - D0|| / ||D0||",
            lambda p: p["filter_movement"],
            (0, None),
            1,
        ),
        (
            f"filter energy above {s['high_frequency_cutoff']} cycles/px"
            "\n(share; the y-axis does not start at 0)",
            lambda p: p["high_frequency_share"],
            (None, None),
            1,
        ),
    )


def _length_panel(ax, results, value, scale) -> bool:
    """One line per label: `value` of each kept epoch, over seeds; whether
    any line was drawn."""
    drawn = False
    labels = study_labels(results)
    for k, label in enumerate(labels):
        group = [e for e in results["subjects"] if e["label"] == label]
        epochs = [
            p["epoch"]
            for p in group[0]["epochs"]
            if value(p) is not None and p["epoch"] is not None
        ]
        if not epochs:
            continue
        values = [
            [
                value(p)
                for e in group
                for p in e["epochs"]
                if p["epoch"] == epoch and value(p) is not None
            ]
            for epoch in epochs
        ]
        if len({len(v) for v in values}) != 1:
            continue  # seeds kept different epochs: no common band
        # Labels side by side at each epoch: no marker hides another.
        shift = 0.05 * (k - (len(labels) - 1) / 2)
        _band(ax, [e + shift for e in epochs], values, label, "-o", scale)
        drawn = True
    return drawn
