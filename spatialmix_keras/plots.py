"""Matplotlib figures in the paper's form (written as PNG files)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    fig.savefig(path)
    plt.close(fig)
    return path
