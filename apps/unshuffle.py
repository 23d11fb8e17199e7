r"""Pixel un-shuffling: train (`--freeze=spatial` for Chans) or compare.

Train, as `apps.classify` (TensorBoard, resume, atomic export):

    python -m apps.unshuffle --dataset=mnist --freeze=spatial
    python -m apps.unshuffle --config=configs/unshuffle_cifar10.py:d=8

At the end the workdir holds `metrics.json` (test PSNR, and the PSNR of the
shuffled input and of the mean image for comparison) and
`reconstructions.png` (original, shuffled, reconstruction); the export
(`saved_models/<run>/`) holds the SavedModel, the `.keras` file and the
permutation.

Compare exported models, one row per model (Full and Chans side by side):

    python -m apps.unshuffle --compare=saved_models/a --compare=saved_models/b
"""

import json
import os

from absl import app, flags, logging

from apps import common

_CONFIG = common.define_training_flags(
    "unshuffle_mnist.py",
    "Un-shuffler variant (sets config.model.name).",
    "mnist, fashion_mnist or cifar10.",
)
flags.DEFINE_integer("permutation_seed", None, "Seed of the pixel shuffle.")
flags.DEFINE_integer("image_size", None, "Downsample images to this size.")
_COMPARE = flags.DEFINE_multi_string(
    "compare",
    None,
    "Exported un-shufflers to evaluate and draw side by side (no training).",
)
_OUTPUT = flags.DEFINE_string(
    "output",
    None,
    "PNG of --compare's grid (default runs/unshuffle_compare.png).",
)
_IMAGES = flags.DEFINE_integer("grid_images", 8, "Images in the grid.")

flags.adopt_module_key_flags(common)  # --help lists the shared flags too

OVERRIDES = {
    **common.TRAINING_OVERRIDES,
    "permutation_seed": "unshuffle.permutation_seed",
    "image_size": "unshuffle.image_size",
}


def _train(config, workdir):
    import numpy as np

    from spatialmix_keras import files, plots, train, unshuffle

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
            [(config.freeze, np.asarray(model(shuffled)))],
            os.path.join(workdir, "reconstructions.png"),
            f"{train.run_name(config)}: test PSNR "
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


def _compare(paths):
    import numpy as np

    from spatialmix_keras import export, plots, unshuffle

    flags_ = flags.FLAGS
    loaded = [unshuffle.load_export(p) for p in paths]
    permutation, first_config = loaded[0][1], loaded[0][2]
    for path, (_, other, _) in zip(paths, loaded, strict=True):
        if other != permutation:
            raise ValueError(
                f"{path} was trained with another permutation (seed "
                f"{other.seed}) than {paths[0]} (seed {permutation.seed}); "
                "compare models of one experiment."
            )
    config = unshuffle.config_for_export(
        first_config, flags_.data_dir, bool(flags_.small), flags_.tfds_data_dir
    )
    if flags_.dataset:
        config.dataset = flags_.dataset
    if flags_.image_size:
        config.unshuffle.image_size = flags_.image_size
    shape = unshuffle.image_shape(config)
    permutation.check_shape(shape[:2])
    for model, _, _ in loaded:
        export.check_input_shape(model, shape)
    test_ds, _ = unshuffle.pipeline(config, "test", 256, False, permutation)
    shuffled, original = unshuffle.sample_images(test_ds, _IMAGES.value, 0)
    rows, results = [], []
    for path, (model, _, export_config) in zip(paths, loaded, strict=True):
        result = unshuffle.evaluate(model, test_ds, f"PSNR {path}")
        label = f"{export_config['freeze']}\n{result['psnr']:.1f} dB"
        rows.append((label, np.asarray(model(shuffled))))
        results.append(
            {"model": path, "freeze": export_config["freeze"], **result}
        )
    output = _OUTPUT.value or "runs/unshuffle_compare.png"
    plots.plot_reconstructions(
        original, shuffled, rows, output, f"{config.dataset} test images"
    )
    for r in results:
        print(f"{r['model']:60s} {r['freeze']:8s} PSNR {r['psnr']:.2f} dB")
    print(json.dumps(results))
    print(f"Wrote {output}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from spatialmix_keras import train

    try:
        if _COMPARE.value:
            _compare(_COMPARE.value)
            return
        config = _CONFIG.value
        common.apply_flag_overrides(config, OVERRIDES)
        if flags.FLAGS.print_config:
            common.print_config(config)
            return
        train.validate_config(config)
        workdir = flags.FLAGS.workdir or f"runs/{train.run_name(config)}"
        _train(config, workdir)
    except train.Interrupted as stopped:
        common.interrupted("unshuffle", stopped)
    except (ValueError, OSError, FloatingPointError) as error:
        common.fail("unshuffle", error)


def run():
    """Console entry point (`spatialmix-unshuffle`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
