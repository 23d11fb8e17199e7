"""Runs a tiny training job under a two-replica strategy (for the tests).

    python tests/distributed_worker.py mirrored WORKDIR EXPORT_DIR
    TF_CONFIG=... python tests/distributed_worker.py multi_worker WORKDIR ...

Prints the metrics as JSON on its last line.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from spatialmix_keras import schema


def main(kind, workdir, export_dir):
    if kind == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    from spatialmix_keras import train

    config = schema.base_config()
    config.small = True
    config.model.name = "convmixer_tiny"
    config.epochs = 4
    config.batch_size = 16  # per replica: global batch 32
    config.steps_per_epoch = 5
    config.optimizer.name = "adamw"
    config.optimizer.learning_rate = 0.005
    config.optimizer.weight_decay = 0.0
    config.schedule.name = "constant"
    config.export_dir = export_dir
    config.run_name = "two_replicas"
    metrics = train.train_and_evaluate(config, workdir, strategy)
    # The chief writes history.json; another worker may finish first.
    history = []
    for _ in range(600):
        with open(os.path.join(workdir, "history.json")) as f:
            history = json.load(f)
        if len(history) == config.epochs:
            break
        time.sleep(0.1)
    metrics["train_losses"] = [h["train_loss"] for h in history]
    print(json.dumps(metrics))


if __name__ == "__main__":
    main(*sys.argv[1:])
