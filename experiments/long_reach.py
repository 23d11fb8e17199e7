"""The mechanism, measured on the long study's trained models: how much of
what each layer of a Full run computes lies outside the reach of the same
layer with its initial spatial filters frozen (`spatial_filters.
unreachable_shares`), and the report's section on it."""

from __future__ import annotations

import json
import os

from experiments import long_study
from spatialmix_keras import stats

FILE = "reach.json"  # a Full run's unreachable shares, by layer


def measure(exports: str, runs_root: str) -> list[str]:
    """Writes `reach.json` (`spatial_filters.unreachable_shares` of the
    exported model) into the folder of each finished Full separable run
    under `runs_root` that has none yet; returns the runs measured."""
    import keras

    import spatialmix_keras
    from spatialmix_keras import files, spatial_filters

    spatialmix_keras.register()
    measured = []
    for name in sorted(os.listdir(runs_root)):
        match = long_study.RUN_NAME.match(name)
        folder = os.path.join(runs_root, name)
        model_path = os.path.join(exports, name, "model.keras")
        if (
            not match
            or match["mode"] != "full"
            or not os.path.exists(os.path.join(folder, "metrics.json"))
            or os.path.exists(os.path.join(folder, FILE))
            or not os.path.exists(model_path)
        ):
            continue
        model = keras.models.load_model(model_path, safe_mode=True)
        shares = spatial_filters.unreachable_shares(model)
        if shares:
            files.write_json(os.path.join(folder, FILE), shares)
            measured.append(name)
    return measured


# The models whose Full runs `reach` shows: the share outside for a kernel
# unrelated to the initial filters (1 - d / (k * k); ConvMixer-128/4's
# kernel-8 depthwise filters one at a time).
_ROWS = (
    ("resnet8_d1", "separable ResNet-8, d = 1", 1 - 1 / 9),
    ("resnet8_d3", "separable ResNet-8, d = 3", 1 - 3 / 9),
    ("resnet8_d9", "separable ResNet-8, d = 9", 0.0),
    ("convmixer_128_4", "ConvMixer-128/4 (depthwise, k = 8)", 1 - 1 / 64),
)


def section(runs_root: str) -> list[str]:
    """The mechanism measured on the trained models: for each Full model of
    `_ROWS`, the mean over layers of the share a frozen-filter twin
    cannot reach, mean over seeds with its interval."""
    found = {}  # model -> [mean over layers of each seed's run]
    for name in sorted(os.listdir(runs_root)):
        match = long_study.RUN_NAME.match(name)
        path = os.path.join(runs_root, name, FILE)
        if match and match["epochs"] == "50" and os.path.exists(path):
            with open(path) as f:
                by_layer = json.load(f)
            found.setdefault(match["model"], []).append(
                sum(by_layer.values()) / len(by_layer)
            )
    rows = []
    for model, label, unrelated in _ROWS:
        shares = found.get(model)
        if shares:
            mean, low, high = stats.mean_ci(shares)
            ci = "" if low != low else f" [{low:.3f}, {high:.3f}]"
            rows.append(
                f"| {label} | {len(shares)} | {mean:.3f}{ci} | "
                f"{unrelated:.3f} |"
            )
    if not rows:
        return []
    return [
        "## The mechanism, measured on the trained models",
        "",
        "Each separable layer of a trained Full ResNet-8 equals one "
        "convolution W = D.P. The share of W's energy outside what the same "
        "layer with its initial spatial filters D0 frozen (Chans) can "
        "represent (per input channel, outside the span of D0's d "
        "filters), mean over the layers, 50 epochs. A ConvMixer's frozen "
        "depthwise filter is used as drawn (GELU follows it, nothing "
        "combines it with others first): the share of each learned "
        "filter's energy off the line of its initial one. "
        "`spatial_filters.unreachable_shares`. A kernel unrelated to D0 "
        "leaves about 1 - d/(k*k) outside; 0 at d = 9 = k*k, where D0 "
        "spans every 3x3 filter.",
        "",
        "| Full model | seeds | share outside D0's reach, mean [95% CI] | "
        "unrelated kernel |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ]
