"""An un-shuffling run's report, and exported un-shufflers side by side.

`train_and_report` trains (`train.train_and_evaluate` with the un-shuffling
task) and adds to the run what a reader needs to judge its PSNR: the PSNR of
the shuffled input and of the mean image, and a grid of reconstructions.
`compare` draws exported un-shufflers on the same test images. `apps.
unshuffle` and the sweeps of Figs. 10-13 call them.
"""

from __future__ import annotations

import json
import os

import numpy as np
from absl import logging

from spatialmix_keras import config as config_lib
from spatialmix_keras import export, files, plots, train, unshuffle
from spatialmix_keras.vocabulary import DATASET_LABELS, FREEZE_LABELS


def train_and_report(config, workdir: str) -> dict:
    """Trains an un-shuffler; returns its metrics (also in `metrics.json`),
    with the PSNR the shuffled input and the train mean image give."""
    task = unshuffle.UnshuffleTask(config)
    metrics = train.train_and_evaluate(config, workdir, task=task)
    test_ds, _ = unshuffle.pipeline(
        config, "test", 256, False, task.permutation, config.test_examples
    )
    mean_image = unshuffle.train_mean_image(config, task.permutation)
    metrics.update(unshuffle.baselines(test_ds, mean_image))
    # Rewritten whole, like every output (train wrote it first).
    files.write_json(os.path.join(workdir, "metrics.json"), metrics)
    if "export_path" in metrics:
        model, _, _ = unshuffle.load_export(metrics["export_path"])
        shuffled, original = unshuffle.sample_images(test_ds, 8, config.seed)
        plots.plot_reconstructions(
            original,
            shuffled,
            [(FREEZE_LABELS[config.freeze], np.asarray(model(shuffled)))],
            os.path.join(workdir, "reconstructions.png"),
            f"{config_lib.run_name(config)}: test PSNR "
            f"{metrics['final_test_psnr']:.2f} dB",
        )
    below = max(metrics["shuffled_psnr"], metrics["mean_image_psnr"])
    if metrics["final_test_psnr"] < below:
        with open(os.path.join(workdir, "history.json")) as f:
            train_psnr = json.load(f)[-1]["train_psnr"]
        why = (
            "The test pass runs BatchNorm in inference mode, on running "
            "statistics that lag the batch statistics of training while the "
            "network still changes fast"
            if train_psnr > below
            else "The model has not learnt the task yet"
        )
        logging.warning(
            "Test PSNR %.2f dB is below what the shuffled input (%.2f dB) or "
            "the mean image (%.2f dB) give; training reached %.2f dB. %s. "
            "Routing pixels back is learnt late (configs/unshuffle_mnist.py): "
            "train longer before reading this number.",
            metrics["final_test_psnr"],
            metrics["shuffled_psnr"],
            metrics["mean_image_psnr"],
            train_psnr,
            why,
        )
    logging.info(
        "Done: test PSNR %.2f dB (shuffled input %.2f, mean image %.2f), "
        "workdir %s",
        metrics["final_test_psnr"],
        metrics["shuffled_psnr"],
        metrics["mean_image_psnr"],
        workdir,
    )
    return metrics


def compare(
    models,
    output: str | None = None,
    *,
    images: int = 8,
    dataset: str | None = None,
    image_size: int | None = None,
    data_dir: str | None = None,
    small: bool = False,
    tfds_data_dir: str | None = None,
) -> list[dict]:
    """Evaluates exported un-shufflers of one experiment (one permutation)
    on its test split and draws their reconstructions side by side.

    Args:
        models: export directories.
        output: the grid's PNG (default `runs/unshuffle_compare.png`).
        images: test images in the grid.
        dataset, image_size: override the experiment's.

    Returns:
        `{"model", "freeze", "psnr", ...}` per model.
    """
    loaded = [unshuffle.load_export(p) for p in models]
    permutation, first_config = loaded[0][1], loaded[0][2]
    for path, (_, other, _) in zip(models, loaded, strict=True):
        if other != permutation:
            raise ValueError(
                f"{path} was trained with another permutation (seed "
                f"{other.seed}) than {models[0]} (seed {permutation.seed}); "
                "compare models of one experiment."
            )
    config = unshuffle.config_for_export(
        first_config, data_dir, bool(small), tfds_data_dir
    )
    if dataset:
        config.dataset = dataset
    if image_size:
        config.unshuffle.image_size = image_size
    shape = unshuffle.image_shape(config)
    permutation.check_shape(shape[:2])
    for model, _, _ in loaded:
        export.check_input_shape(model, shape)
    test_ds, _ = unshuffle.pipeline(config, "test", 256, False, permutation)
    shuffled, original = unshuffle.sample_images(test_ds, images, 0)
    rows, results = [], []
    for path, (model, _, export_config) in zip(models, loaded, strict=True):
        result = unshuffle.evaluate(model, test_ds, f"PSNR {path}")
        freeze = FREEZE_LABELS[export_config["freeze"]]
        label = f"{freeze}\n{result['psnr']:.1f} dB"
        rows.append((label, np.asarray(model(shuffled))))
        results.append(
            {"model": path, "freeze": export_config["freeze"], **result}
        )
    output = output or "runs/unshuffle_compare.png"
    shown = DATASET_LABELS.get(config.dataset, config.dataset)
    plots.plot_reconstructions(
        original,
        shuffled,
        rows,
        output,
        grid_title(shown, [c for _, _, c in loaded]),
    )
    for r in results:
        freeze = FREEZE_LABELS[r["freeze"]]
        print(f"{r['model']:60s} {freeze:6s} PSNR {r['psnr']:.2f} dB")
    print(json.dumps(results))
    print(f"Wrote {output}", flush=True)
    return results


def grid_title(shown: str, configs: list[dict]) -> str:
    """The grid's title: the dataset, and the un-shufflers' architecture and
    training where all compared models share them."""
    title = f"Un-shuffling {shown} test images"
    shared = []
    for describe in (
        lambda c: (
            f"ConvMixer depth {c['model']['depth']}, width "
            f"{c['model']['dim']}, kernel {c['model']['kernel_size']}"
        ),
        lambda c: f"{c['epochs']} epochs",
        lambda c: f"seed {c['seed']}",
    ):
        try:
            described = {describe(c) for c in configs}
        except (KeyError, TypeError):
            continue
        if len(described) == 1:
            shared.append(described.pop())
    return title + (": " + ", ".join(shared) if shared else "")
