"""TensorBoard summaries of a training run (`<workdir>/tb`).

At step 0 the HParams dashboard, parameter counts, the depthwise filters and
the task's own images; every `log_every_steps` the running training loss
and images/s (`steps/`, against the global step); after every epoch its
`history.json` record as scalars, the filters again and the task's images.
"""

import os

import tensorflow as tf

from spatialmix_keras import spatial_filters
from spatialmix_keras.config import hparams


def writer(workdir, chief):
    """The run's event writer; a no-op one on workers other than the chief."""
    if chief:
        return tf.summary.create_file_writer(os.path.join(workdir, "tb"))
    return tf.summary.create_noop_writer()


def write_filter_images(model, count, step):
    """The first `count` depthwise layers' filters, one image grid each."""
    kernels = spatial_filters.depthwise_kernels(model)
    for name, kernel in list(kernels.items())[:count]:
        grid = spatial_filters.filter_grid(kernel)
        tf.summary.image(f"depthwise_filters/{name}", grid[None], step=step)


def start(config, name, model, params, task, test_ds):
    """TensorBoard at step 0: the HParams dashboard (the config's fields
    that matter and the metrics to compare), parameter counts, filters."""
    from tensorboard.plugins.hparams import api as hp

    metric = task.metric
    run_hparams = hparams(config)
    hp.hparams_config(
        hparams=[hp.HParam(key) for key in run_hparams],
        metrics=[
            hp.Metric(f"test/{metric}", display_name=f"test {metric}"),
            hp.Metric("test/loss", display_name="test loss"),
            hp.Metric(f"train/{metric}", display_name=f"train {metric}"),
        ],
    )
    hp.hparams(run_hparams, trial_id=name)
    for key, value in params.items():
        tf.summary.scalar(f"params/{key}", value, step=0)
    write_filter_images(model, config.filter_images, 0)
    task.write_summaries(model, test_ds, 0)


def steps(step, loss, images_per_s):
    """TensorBoard within an epoch, against the global step: the epoch's
    running training loss and the images/s so far (every
    `log_every_steps`)."""
    tf.summary.scalar("steps/train_loss", loss, step=step)
    tf.summary.scalar("steps/images_per_s", images_per_s, step=step)


def epoch(config, record, model, task, test_ds):
    """TensorBoard after an epoch: its `history.json` record as scalars
    (`train_loss` as `train/loss`), the filters and the task's images."""
    epoch, metric = record["epoch"], task.metric
    for key in (
        "train_loss",
        f"train_{metric}",
        "test_loss",
        f"test_{metric}",
        "learning_rate",
        "images_per_s",
    ):
        tf.summary.scalar(key.replace("_", "/", 1), record[key], step=epoch)
    tf.summary.scalar("time/epoch_s", record["train_time_s"], step=epoch)
    write_filter_images(model, config.filter_images, epoch)
    task.write_summaries(model, test_ds, epoch)
