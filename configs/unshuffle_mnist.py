r"""Pixel un-shuffling (paper section 4.4, Figs. 10 and 11).

The CPU recipe: MNIST area-downsampled to 14x14 (`--image_size=28` for the
full size, with a larger model), `unshuffler_64_5` (dim 64, depth 5, kernel 7:
receptive field 31 covers the image, which moving any pixel anywhere needs),
Adam (AdamW without decay), cosine decay from 6e-3 per 64-image batch after a
0.3-epoch warm-up, BatchNorm momentum 0.9, 4 epochs. The permutation is fixed
by `--permutation_seed` (default 0) and saved with the export.

    python -m apps.unshuffle --freeze=none --run_name=unshuffle_full
    python -m apps.unshuffle --freeze=spatial --run_name=unshuffle_chans
    python -m apps.unshuffle --dataset=fashion_mnist --freeze=spatial
    python -m apps.unshuffle \
        --compare=saved_models/unshuffle_full \
        --compare=saved_models/unshuffle_chans

Without `--run_name` a run is named after its config plus a short hash of
it (`unshuffler_64_5_none_mnist_s0_<hash>`; the first log lines print it),
so a smoke or shortened run never takes the name of the real one.

Smoke (~20 s on a CPU, mnist_small.npz):
`--config=configs/unshuffle_mnist.py:smoke`.

What it reaches (2-core dev CPU, full MNIST train split at 14x14, 4 epochs,
test PSNR of the exported models over all 10,000 test images): Full 22.86 dB
in 16 min of training, Chans 20.78 dB in 20 min (the CPU was shared with
other jobs, so the times are rough), against 13.06 dB for the mean training
image and 8.44 dB for the shuffled input.
Be warned that the task is slow to start: PSNR sits below the mean image
(~13.2 dB at 14x14) for the first ~20k images before routing is learnt.
"""

import ml_collections

from spatialmix_keras import schema


def get_config(arg: str | None = None):
    config = schema.unshuffle_config()
    config.dataset = "mnist"
    config.model = ml_collections.ConfigDict(
        {"name": "unshuffler_64_5", "dim": 64, "depth": 5, "kernel_size": 7}
    )
    config.unshuffle.image_size = 14
    config.epochs = 4
    config.batch_size = 64
    config.optimizer.name = "adamw"
    config.optimizer.learning_rate = 6e-3
    config.optimizer.weight_decay = 0.0
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 0.3
    if arg == "smoke":
        schema.shrink_for_smoke(config)
        config.model.update(dim=16, depth=2, kernel_size=5)
    elif arg:
        raise schema.invalid_config_argument(arg)
    return config
