"""The compiled steps of one run: `Steps` (the distributed train and eval
steps, one `tf.function` each), `evaluate` over a test set, and the optimizer
they apply (`make_optimizer`). `train.train_and_evaluate` loops over them."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from spatialmix_keras import distribute


def make_optimizer(config, schedule):
    """The Keras optimizer of `config.optimizer` over `schedule`."""
    opt = config.optimizer
    if opt.name == "sgd":
        # Weight decay enters the loss as L2 (PyTorch's coupled SGD decay).
        optimizer = keras.optimizers.SGD(
            schedule, momentum=opt.momentum, nesterov=opt.nesterov
        )
    else:
        optimizer = keras.optimizers.AdamW(
            schedule,
            weight_decay=opt.weight_decay,
            beta_1=opt.beta_1,
            beta_2=opt.beta_2,
        )
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    if config.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _sums(per_example, metric):
    """One step's (loss sum, metric sum, example count), summed over replicas
    by the caller and divided at the epoch's end."""
    return tf.stack(
        [
            tf.reduce_sum(per_example),
            tf.reduce_sum(metric),
            tf.cast(tf.shape(per_example)[0], tf.float32),
        ]
    )


class Steps:
    """The distributed train and eval steps of one run."""

    def __init__(self, task, model, optimizer, strategy, config, global_batch):
        self.task, self.model = task, model
        self.optimizer, self.strategy = optimizer, strategy
        self.global_batch = global_batch
        self.l2 = (
            config.optimizer.weight_decay
            if config.optimizer.name == "sgd"
            else 0.0
        )
        self.decayed = [
            v for v in model.trainable_variables if "kernel" in v.name
        ]
        jit = config.jit_compile == "on" or (
            config.jit_compile == "auto" and distribute.uses_accelerator()
        )
        # XLA wraps the per-replica step; on a CPU it makes ConvMixer steps
        # 16-25x slower (benchmarks/README.md), hence "auto" leaves it off.
        self._replica_train = tf.function(
            self._replica_train_fn, jit_compile=jit
        )
        self.train = tf.function(self._train)
        self.evaluate = tf.function(self._eval)

    def _replica_train_fn(self, inputs, targets):
        with tf.GradientTape() as tape:
            outputs = tf.cast(self.model(inputs, training=True), tf.float32)
            per_example, metric = self.task.train_terms(targets, outputs)
            loss = tf.nn.compute_average_loss(
                per_example, global_batch_size=self.global_batch
            )
            if self.l2:
                replicas = self.strategy.num_replicas_in_sync
                loss += (
                    self.l2
                    * tf.add_n([tf.nn.l2_loss(v) for v in self.decayed])
                    / replicas
                )
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.model.trainable_variables)
        self.optimizer.apply_gradients(
            zip(grads, self.model.trainable_variables, strict=True)
        )
        return _sums(per_example, metric)

    def _train(self, iterator):
        sums = self.strategy.run(self._replica_train, args=next(iterator))
        return self.strategy.reduce("SUM", sums, axis=None)

    def _eval(self, inputs, targets):
        def replica(inputs, targets):
            outputs = tf.cast(self.model(inputs, training=False), tf.float32)
            loss, metric = self.task.eval_terms(targets, outputs)
            return _sums(loss, metric)

        sums = self.strategy.run(replica, args=(inputs, targets))
        return self.strategy.reduce("SUM", sums, axis=None)


def evaluate(steps, dist_dataset) -> dict:
    """Mean loss and metric over a distributed evaluation dataset."""
    totals = np.zeros(3)
    for inputs, targets in dist_dataset:
        totals += steps.evaluate(inputs, targets).numpy()
    return {
        "loss": totals[0] / totals[2],
        steps.task.metric: totals[1] / totals[2],
    }
