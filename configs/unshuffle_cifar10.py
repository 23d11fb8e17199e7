r"""Pixel un-shuffling on CIFAR-10 against depth, width and kernel (Fig. 12).

The argument picks one point of the sweep, `d=<depth>,w=<width>,k=<kernel>`
(default the paper's best, `d=16,w=512,k=7`), optionally with `smoke`. A
patch-size-1 ConvMixer un-shuffler on 32x32x3 images needs a receptive
field of 63 (1 + d (k - 1) >= 63) to move any pixel anywhere: d=16, k=7
has 97; d=8, k=7 only 49.

Fig. 12 (GPU; one run per point, Full and Chans):

    for f in none spatial; do
      for d in 4 8 16; do python -m apps.unshuffle \
        --config=configs/unshuffle_cifar10.py:d=$d,w=512,k=7 --freeze=$f; done
      for w in 128 256 512; do python -m apps.unshuffle \
        --config=configs/unshuffle_cifar10.py:d=16,w=$w,k=7 --freeze=$f; done
      for k in 3 5 7; do python -m apps.unshuffle \
        --config=configs/unshuffle_cifar10.py:d=16,w=512,k=$k --freeze=$f; done
    done

Fig. 13 grid from two exports:

    python -m apps.unshuffle \
        --compare=saved_models/unshuffle_cifar10_d16_w512_k7_none \
        --compare=saved_models/unshuffle_cifar10_d16_w512_k7_spatial

Smoke (CPU, ~1 min, cifar10_small.npz): `:smoke,d=2,w=16,k=3`.

Training: Adam (no weight decay), cosine decay from 2e-3 per 64-image batch
after 1 warm-up epoch, 30 epochs, BatchNorm momentum 0.9. Expected: the
paper's Fig. 12 shows PSNR rising with depth, width and kernel size, and
Chans close to Full. Not measured in this project yet (a GPU job: one
epoch of the d=16, w=512 model is ~1.6 TFLOP per 1000 images).
"""

import ml_collections

from spatialmix_keras import schema


def _parse(arg):
    settings = {"d": 16, "w": 512, "k": 7}
    smoke = False
    for token in [t for t in (arg or "").split(",") if t]:
        key, _, value = token.partition("=")
        if token == "smoke":
            smoke = True
        elif key in settings and value.isdigit() and int(value) > 0:
            settings[key] = int(value)
        else:
            raise ValueError(
                "Invalid config argument. Expected 'd=<int>,w=<int>,k=<int>'"
                f" and optionally 'smoke'. Received: {arg!r}"
            )
    return settings, smoke


def get_config(arg: str | None = None):
    settings, smoke = _parse(arg)
    config = schema.unshuffle_config()
    config.dataset = "cifar10"
    config.model = ml_collections.ConfigDict(
        {
            "name": "unshuffler_128_8",
            "dim": settings["w"],
            "depth": settings["d"],
            "kernel_size": settings["k"],
        }
    )
    config.epochs = 30
    config.batch_size = 64
    config.optimizer.name = "adamw"
    config.optimizer.learning_rate = 2e-3
    config.optimizer.weight_decay = 0.0
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 1.0
    prefix = "unshuffle_cifar10_smoke" if smoke else "unshuffle_cifar10"
    config.run_name = (
        f"{prefix}_d{settings['d']}_w{settings['w']}"
        f"_k{settings['k']}_{{freeze}}"
    )
    if smoke:
        schema.shrink_for_smoke(config)
    return config
