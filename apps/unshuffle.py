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

from absl import flags

from spatialmix_keras import stopping

from . import common

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


def main(argv):
    config = _CONFIG.value
    if not _COMPARE.value and not common.resolve_config(
        "unshuffle", config, OVERRIDES
    ):
        return
    unshuffle_report = common.experiment("reproduce.unshuffle_report")
    from spatialmix_keras import config as config_lib

    try:
        if _COMPARE.value:
            unshuffle_report.compare(
                _COMPARE.value,
                _OUTPUT.value,
                images=_IMAGES.value,
                dataset=flags.FLAGS.dataset,
                image_size=flags.FLAGS.image_size,
                data_dir=flags.FLAGS.data_dir,
                small=bool(flags.FLAGS.small),
                tfds_data_dir=flags.FLAGS.tfds_data_dir,
            )
            return
        config_lib.validate_config(config)
        workdir = flags.FLAGS.workdir or f"runs/{config_lib.run_name(config)}"
        if common.finished_or_restarted(config, workdir):
            return
        unshuffle_report.train_and_report(config, workdir)
    except stopping.Interrupted as stopped:
        common.interrupted("unshuffle", stopped)
    except (ValueError, OSError, FloatingPointError) as error:
        common.fail("unshuffle", error)


def run():
    """Console entry point (`spatialmix-unshuffle`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
