"""Matplotlib figures in the paper's form (written as PNG files)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spatialmix_keras import files  # noqa: E402


def plot_eps_sweep(curves, path: str, title: str = "") -> str:
    """Accuracy against epsilon, one line per model and attack (Figs. 8, 9).

    Args:
        curves: dicts with `label`, `attack`, `eps` (on [0, 1]) and
            `accuracy`.
        path: PNG file to write.
        title: figure title.

    Returns:
        `path`.
    """
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for curve in curves:
        eps255 = [255 * e for e in curve["eps"]]
        style = "-o" if curve["attack"] == "fgsm" else "--s"
        ax.plot(
            eps255,
            curve["accuracy"],
            style,
            markersize=4,
            label=f"{curve['label']} ({curve['attack'].upper()})",
        )
    ax.set_xlabel("epsilon (x 1/255)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.atomic_write(path, fig.savefig)
    plt.close(fig)
    return path


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
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.atomic_write(path, fig.savefig)
    plt.close(fig)
    return path
