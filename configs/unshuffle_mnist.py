r"""Pixel un-shuffling (paper section 4.4, Figs. 10 and 11).

RECIPE_PLACEHOLDER
"""

from spatialmix_keras import unshuffle


def get_config(arg: str | None = None):
    config = unshuffle.base_config()
    config.dataset = "mnist"
    config.model = "unshuffler_64_5"
    config.unshuffle.image_size = 14
    config.epochs = 4
    config.batch_size = 64
    config.optimizer.name = "adamw"
    config.optimizer.learning_rate = 6e-3
    config.optimizer.weight_decay = 0.0
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 0.3
    if arg == "smoke":
        config.small = True
        config.epochs = 2
        config.steps_per_epoch = 5
        config.batch_size = 32
        config.log_every_steps = 5
    elif arg:
        raise ValueError(
            "Invalid config argument. Expected 'smoke' or none. "
            f"Received: {arg!r}"
        )
    return config
