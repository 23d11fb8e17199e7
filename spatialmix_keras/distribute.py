"""Choosing a `tf.distribute` strategy, and what each worker may write.

`get_strategy("auto")` picks, in order: `MultiWorkerMirroredStrategy` when
`TF_CONFIG` names more than one worker; `TPUStrategy` when a TPU answers;
`MirroredStrategy` over all local GPUs when there is at least one; else the
default strategy (one CPU). Every strategy runs the same custom training loop
(`train.py`), so progress, TensorBoard, resume and export work the same way.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from spatialmix_keras.vocabulary import STRATEGIES


def _tf_config():
    try:
        return json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(
            f"TF_CONFIG is not valid JSON: {error}. Received: "
            f"{os.environ.get('TF_CONFIG')!r}"
        ) from error


def _num_workers(tf_config):
    cluster = tf_config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _tpu_strategy():
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def get_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the strategy `name`, or the best one for this host (`auto`)."""
    if name not in STRATEGIES:
        raise ValueError(
            "Invalid value for argument `strategy`. Expected one of "
            f"{STRATEGIES}. Received: strategy={name!r}"
        )
    if name == "multi_worker" or (
        name == "auto" and _num_workers(_tf_config()) > 1
    ):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        return _tpu_strategy()
    if name == "auto":
        try:
            return _tpu_strategy()
        except (ValueError, tf.errors.OpError):
            pass
    if name == "mirrored" or (
        name == "auto" and tf.config.list_logical_devices("GPU")
    ):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this worker writes the shared outputs (logs, exports)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (
        task_type == "worker"
        and task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def worker_dir(path: str, strategy: tf.distribute.Strategy) -> str:
    """`path` on the chief; a private scratch directory on other workers.

    Under `MultiWorkerMirroredStrategy` every worker must take part in
    saving checkpoints (the save runs collective ops), but only the chief's
    copy is kept.
    """
    if is_chief(strategy):
        return path
    resolver = strategy.cluster_resolver
    return os.path.join(
        path, ".workers", f"{resolver.task_type}_{resolver.task_id}"
    )


def uses_accelerator() -> bool:
    return bool(
        tf.config.list_logical_devices("GPU")
        or tf.config.list_logical_devices("TPU")
    )
