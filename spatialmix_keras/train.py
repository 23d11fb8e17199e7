"""The one training loop: `train_and_evaluate(config, workdir, strategy)`.

Design: a custom step (`steps.Steps`: `strategy.run` over a `tf.function`
with `tf.GradientTape`, the Keras model and a Keras optimizer) serves every
`tf.distribute` strategy: the default one on a CPU, `MirroredStrategy` over a
host's GPUs, `MultiWorkerMirroredStrategy` over hosts and `TPUStrategy`.
Keras 3's `model.fit` fails under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585), so a `fit`-based design would give multi-host runs
fewer features; with one loop, progress logging, TensorBoard, resume and
export are the same everywhere.

Resume uses TensorFlow checkpoints (model, optimizer, epoch and step within
it, saved into `<workdir>/checkpoints` at every epoch end and every
`checkpoint_every_minutes` inside one), written whole or not at all and
verified when read (`checkpoints.Checkpoints`: a corrupt newest one is set
aside and the one before used): re-running the same command continues from
there, skipping the batches of the epoch it had
trained on. SIGTERM / SIGINT save after the current step and raise
`Interrupted`. A NaN loss stops the run with `FloatingPointError` before
anything is saved, so the last good checkpoint stays.

Batch size and learning rate in the config are *per replica*: with R
replicas the global batch is `R * batch_size` and the peak learning rate
`R * learning_rate` (linear scaling).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import time

import keras
import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from spatialmix_keras import (
    checkpoints,
    datasets,
    distribute,
    export,
    files,
    machine,
    progress,
    summaries,
)
from spatialmix_keras import steps as steps_lib
from spatialmix_keras.classification import ClassificationTask
from spatialmix_keras.config import check_workdir, run_name, validate_config
from spatialmix_keras.schedules import make_schedule
from spatialmix_keras.stopping import Interrupted, StopRequests


def _check_apart(export_path, backup_dir):
    """An export must never land in (or hold) the checkpoint directory: the
    atomic rename of one would replace the other."""
    a, b = os.path.realpath(export_path), os.path.realpath(backup_dir)
    if a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep):
        raise ValueError(
            f"The export directory {export_path} and the checkpoint (backup) "
            f"directory {backup_dir} overlap; choose another --export_dir or "
            "--workdir."
        )


def count_params(model) -> dict:
    def size(weights):
        return int(sum(np.prod(w.shape) for w in weights))

    kernels = [w for w in model.non_trainable_weights if "kernel" in w.name]
    return {
        "trainable_params": size(model.trainable_weights),
        "frozen_params": size(kernels),
    }


def weights_path(workdir, epoch) -> str:
    """Where `config.save_weights_epochs` keeps the weights after `epoch`."""
    return os.path.join(workdir, "weights", f"epoch_{epoch:04d}.weights.h5")


def _save_weights(model, workdir, epoch):
    path = weights_path(workdir, epoch)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path.replace(".weights.h5", ".tmp.weights.h5")
    model.save_weights(tmp)
    os.replace(tmp, path)


def _announce(
    name,
    workdir,
    export_path,
    checkpoint,
    epoch,
    step,
    steps_per_epoch,
    epochs,
):
    """What a user needs at the start: where it writes, how to watch it,
    and whether it resumes."""
    logging.info("Run %s", name)
    logging.info("  workdir      %s", os.path.abspath(workdir))
    logging.info(
        "  TensorBoard  tensorboard --logdir %s",
        os.path.join(os.path.abspath(workdir), "tb"),
    )
    logging.info(
        "  export       %s",
        os.path.abspath(export_path) if export_path else "off (export=False)",
    )
    if checkpoint:
        where = (
            f"epoch {epoch} done"
            if not step
            else (f"epoch {epoch + 1}, step {step}/{steps_per_epoch}")
        )
        logging.info("  Resuming from %s (%s).", checkpoint, where)
    else:
        logging.info(
            "  Starting fresh: %d epochs of %d steps.", epochs, steps_per_epoch
        )


def _check_data(config):
    """Reads the run's data before anything is written, so that a run whose
    data is missing or broken leaves no workdir behind (the arrays are
    cached for the pipelines)."""
    if config.dataset in datasets.TFDS_ONLY:
        return
    for split in datasets.SPLITS:
        datasets.load_arrays(
            config.dataset,
            split,
            config.data_dir,
            config.small,
            config.tfds_data_dir,
        )


def finished_metrics(config, workdir: str) -> dict | None:
    """The `metrics.json` of a run of `config` that finished in `workdir`
    (all its epochs, and its export when it exports), else None. Raises
    when the workdir holds a run of another config (`check_workdir`)."""
    path = os.path.join(workdir, "metrics.json")
    if not os.path.exists(path):
        return None
    check_workdir(workdir, config)
    try:
        metrics = files.read_json(path, dict, keys=("epochs",))
    except (OSError, ValueError) as error:
        raise ValueError(f"{error} Pass --restart to train again.") from None
    export_path = os.path.join(config.export_dir, run_name(config))
    if metrics.get("epochs") != config.epochs or (
        config.export and not os.path.isdir(export_path)
    ):
        return None
    return {**metrics, "export_path": export_path if config.export else None}


def set_aside(workdir: str) -> str | None:
    """Moves an existing workdir to `<workdir>.replaced-<UTC time>`, so
    that a run starts from scratch without losing the old one; returns
    where it went (None when there was nothing)."""
    if not os.path.exists(workdir):
        return None
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = f"{workdir.rstrip(os.sep)}.replaced-{stamp}"
    os.rename(workdir, target)
    return target


def _skip(iterator, count):
    """Draws the `count` batches a resumed epoch had trained on, before its
    clock starts: they pass through the augmentation again (so its random
    state matches the uninterrupted run) without counting as training."""
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    logging.info(
        "  Skipped the %d batches trained before the stop in %.1f s (not "
        "counted as training time).",
        count,
        time.perf_counter() - start,
    )


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    strategy: tf.distribute.Strategy | None = None,
    task=None,
) -> dict:
    """Trains and evaluates a model; resumes from `workdir` if it can.

    `task` says what is learnt: `ClassificationTask()` (the default) or
    `spatialmix_keras.unshuffle.UnshuffleTask(...)`; every task gets the
    same distribution, logging, resume and export.

    Writes into `workdir`: `config.json` (the resolved config),
    `checkpoints/`, `tb/` (TensorBoard), `history.json` and `metrics.json`;
    then, when `config.export`, the export `<export_dir>/<run_name>/`.

    Returns:
        The metrics dictionary written to `metrics.json`.
    """
    task = task or ClassificationTask()
    validate_config(config)
    task.validate(config)
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(
            f"Invalid value for argument `workdir`: {workdir} is a file; "
            "expected a directory (created when missing). Received: "
            f"workdir={workdir!r}"
        )
    _check_data(config)
    strategy = strategy or distribute.get_strategy(config.strategy)
    chief = distribute.is_chief(strategy)
    name = run_name(config)
    if config.export and chief:
        export.check_export_target(config.export_dir, name, config.overwrite)
        _check_apart(
            os.path.join(config.export_dir, name),
            os.path.join(workdir, "checkpoints"),
        )
    os.makedirs(workdir, exist_ok=True)
    # One run per workdir and per export target: the chief holds both locks
    # until the run ends (a second run meets them at its start, not after
    # hours of training at the export).
    with contextlib.ExitStack() as locks:
        if chief:
            locks.enter_context(files.DirectoryLock(workdir, "workdir"))
        if chief and config.export:
            os.makedirs(config.export_dir, exist_ok=True)
            locks.enter_context(
                files.DirectoryLock(
                    config.export_dir,
                    "export target",
                    name=f".{name}.lock",
                    shown=os.path.join(config.export_dir, name),
                    hint="--run_name or --export_dir",
                )
            )
        return _locked_train_and_evaluate(
            config, workdir, strategy, chief, name, task
        )


def _locked_train_and_evaluate(config, workdir, strategy, chief, name, task):
    check_workdir(workdir, config)
    if chief:
        files.write_json(os.path.join(workdir, "config.json"), config.to_dict())

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    try:
        with StopRequests() as stop:
            return _train_and_evaluate(
                config, workdir, strategy, chief, name, task, stop
            )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _history_metrics(history, metric, params) -> dict:
    """The `metrics.json` fields read from the epochs' records."""
    train_time = sum(h["train_time_s"] for h in history)
    return {
        f"final_test_{metric}": history[-1][f"test_{metric}"],
        "final_test_loss": history[-1]["test_loss"],
        f"best_test_{metric}": max(h[f"test_{metric}"] for h in history),
        "epoch_train_time_s": [h["train_time_s"] for h in history],
        "train_time_s": train_time,
        "train_time_per_trainable_param_s": train_time
        / max(params["trainable_params"], 1),
        "epochs": len(history),
    }


def _train_and_evaluate(config, workdir, strategy, chief, name, task, stop):
    run = _Training(config, workdir, strategy, chief, name, task)
    for epoch in range(run.start_epoch + 1, config.epochs + 1):
        first = run.start_step if epoch == run.start_epoch + 1 else 0
        sums, train_time = run.train_epoch(epoch, first, stop)
        run.end_epoch(epoch, sums, train_time)
        if stop.signal_name and epoch < config.epochs:
            raise Interrupted(
                f"Stopped by {stop.signal_name} after epoch {epoch}; saved "
                f"to {run.manager.latest}. Run the same command again "
                "to resume from there."
            )
    return run.finish()


class _Training:
    """One run's state between epochs: the model, its optimizer, the
    checkpoint (with the epoch, the step within it and the epoch's running
    sums), the records so far and the test pipeline (built once)."""

    def __init__(self, config, workdir, strategy, chief, name, task):
        self.config, self.workdir, self.strategy = config, workdir, strategy
        self.chief, self.name, self.task = chief, name, task
        self.global_batch = config.batch_size * strategy.num_replicas_in_sync
        self.num_train = task.train_dataset(config, self.global_batch, 1)[1]
        self.test_ds, self.num_test = task.test_dataset(
            config, self.global_batch
        )
        self.steps_per_epoch = self.num_train // self.global_batch
        if config.steps_per_epoch:
            self.steps_per_epoch = min(
                self.steps_per_epoch, config.steps_per_epoch
            )
        self._build()
        self.manager.restore()
        self.start_epoch = int(self.epoch_var.numpy())
        self.start_step = int(self.step_var.numpy())
        self.history_path = os.path.join(workdir, "history.json")
        self.history = _read_history(self.history_path, self.start_epoch)
        self.steps = steps_lib.Steps(
            task,
            self.model,
            self.optimizer,
            strategy,
            config,
            self.global_batch,
        )
        self.dist_test = strategy.experimental_distribute_dataset(self.test_ds)
        self.params = count_params(self.model)
        self.writer = summaries.writer(workdir, chief)
        self._start()

    def _build(self):
        config, strategy = self.config, self.strategy
        total_steps = self.steps_per_epoch * config.epochs
        learning_rate = (
            config.optimizer.learning_rate * strategy.num_replicas_in_sync
        )
        with strategy.scope():
            self.model = self.task.build_model(config)
            schedule = make_schedule(
                config.schedule,
                learning_rate,
                total_steps,
                self.steps_per_epoch,
            )
            self.optimizer = steps_lib.make_optimizer(config, schedule)
            self.optimizer.build(self.model.trainable_variables)
            self.epoch_var = tf.Variable(
                0, dtype=tf.int64, trainable=False, name="epoch"
            )
            # Where in the epoch a mid-epoch checkpoint was taken, and the
            # epoch's running sums then (loss, metric, examples, seconds).
            self.step_var = tf.Variable(
                0, dtype=tf.int64, trainable=False, name="step"
            )
            self.sums_var = tf.Variable(
                tf.zeros(4, tf.float64), trainable=False, name="epoch_sums"
            )
            checkpoint = tf.train.Checkpoint(
                model=self.model,
                optimizer=self.optimizer,
                epoch=self.epoch_var,
                step=self.step_var,
                epoch_sums=self.sums_var,
            )
        self.ckpt_dir = distribute.worker_dir(
            os.path.join(self.workdir, "checkpoints"), strategy
        )
        self.manager = checkpoints.Checkpoints(
            checkpoint, self.ckpt_dir, keep=2
        )

    def _start(self):
        config, name = self.config, self.name
        export_path = (
            os.path.join(config.export_dir, name) if config.export else None
        )
        _announce(
            name,
            self.workdir,
            export_path,
            self.manager.latest,
            self.start_epoch,
            self.start_step,
            self.steps_per_epoch,
            config.epochs,
        )
        if self.start_epoch == 0:
            with self.writer.as_default():
                summaries.start(
                    config, name, self.model, self.params, self.task,
                    self.test_ds,
                )  # fmt: skip
        if (
            self.chief
            and self.start_epoch == 0
            and 0 in config.save_weights_epochs
        ):
            _save_weights(self.model, self.workdir, 0)
        logging.info(
            "%s: %d replicas, global batch %d, %d steps/epoch, %d epochs, "
            "%d trainable / %d frozen params.",
            name,
            self.strategy.num_replicas_in_sync,
            self.global_batch,
            self.steps_per_epoch,
            config.epochs,
            self.params["trainable_params"],
            self.params["frozen_params"],
        )
        self.estimate = progress.Estimate(
            (config.epochs - self.start_epoch) * self.steps_per_epoch
            - self.start_step,
            self.global_batch,
        )
        self.last_save = time.monotonic()

    def _iterator(self, epoch, first):
        """This epoch's batches: a pipeline per epoch, seeded by it, so
        resuming changes nothing. A run resumed mid-epoch skips the batches
        it had trained on (they still pass through the augmentation, so its
        random state matches)."""
        train_ds = self.task.train_dataset(
            self.config, self.global_batch, epoch
        )
        iterator = iter(
            self.strategy.experimental_distribute_dataset(train_ds[0])
        )
        if first:
            _skip(iterator, first)
        return iterator

    def train_epoch(self, epoch, first, stop):
        """Trains one epoch from step `first`; returns the running sums
        (loss, metric, examples, seconds) and the epoch's training time."""
        config, steps_per_epoch = self.config, self.steps_per_epoch
        iterator = self._iterator(epoch, first)
        sums = self.sums_var.numpy() if first else np.zeros(4)
        bar = progress.Progress(
            steps_per_epoch,
            f"epoch {epoch}/{config.epochs}",
            self.global_batch,
            config.log_every_steps,
            start=first,
            run_eta=self.estimate.seconds_left,
        )
        for step in range(first + 1, steps_per_epoch + 1):
            sums[:3] += self.steps.train(iterator).numpy()
            if not np.isfinite(sums[0]):
                raise FloatingPointError(
                    f"Loss became NaN at epoch {epoch}, step {step}: stopped. "
                    "The last good checkpoint is "
                    f"{self.manager.latest or 'none (nothing was saved)'}."
                )
            bar.update(
                step,
                loss=sums[0] / sums[2],
                **{self.task.metric: sums[1] / sums[2]},
            )
            self.estimate.step()
            if step % config.log_every_steps == 0 or step == steps_per_epoch:
                with self.writer.as_default():
                    summaries.steps(
                        (epoch - 1) * steps_per_epoch + step,
                        sums[0] / sums[2],
                        bar.images_per_s(),
                    )
            due = config.checkpoint_every_minutes and (
                time.monotonic() - self.last_save
                >= 60 * config.checkpoint_every_minutes
            )
            if (stop.signal_name or due) and step < steps_per_epoch:
                sums[3] = self.sums_var.numpy()[3] * bool(first) + bar.elapsed
                self._save_mid_epoch(step, sums)
                if stop.signal_name:
                    raise Interrupted(
                        f"Stopped by {stop.signal_name} at epoch {epoch}, "
                        f"step {step}/{steps_per_epoch}; saved to "
                        f"{self.manager.latest}. Run the same command "
                        "again to resume from there."
                    )
        return sums, bar.elapsed + (self.sums_var.numpy()[3] if first else 0.0)

    def _save_mid_epoch(self, step, sums):
        self._check_finite(f"step {step}")
        self.step_var.assign(step)
        self.sums_var.assign(sums)
        self.manager.save()
        self.last_save = time.monotonic()

    def end_epoch(self, epoch, sums, train_time):
        """Evaluates the finished epoch, records it (history, TensorBoard,
        kept weights), and checkpoints it last: a stop anywhere before the
        checkpoint trains the epoch again on resume and rewrites its
        records, so no record is ever missing from a checkpointed epoch."""
        test = steps_lib.evaluate(self.steps, self.dist_test)
        record = self._record(epoch, sums[:3], test, train_time)
        self.history.append(record)
        if self.chief:
            files.write_json(self.history_path, self.history)
        with self.writer.as_default():
            summaries.epoch(
                self.config, record, self.model, self.task, self.test_ds
            )
        self.writer.flush()
        if self.chief and epoch in self.config.save_weights_epochs:
            _save_weights(self.model, self.workdir, epoch)
        self._check_finite(f"the end of epoch {epoch}", test["loss"])
        self.epoch_var.assign(epoch)
        self.step_var.assign(0)
        self.sums_var.assign(np.zeros(4))
        self.manager.save()
        self.last_save = time.monotonic()
        _log_epoch(record, self.config.epochs, self.task.metric)

    def _check_finite(self, when, test_loss=0.0):
        """Refuses to checkpoint non-finite weights, BatchNorm statistics,
        optimizer slots or test loss: the checkpoint already there stays the
        last good one."""
        bad = [
            v.path
            for v in [*self.model.variables, *self.optimizer.variables]
            if "float" in str(v.dtype)
            and not np.all(np.isfinite(keras.ops.convert_to_numpy(v)))
        ]
        if bad or not np.isfinite(test_loss):
            what = ", ".join(bad[:3]) + (
                f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            )
            raise FloatingPointError(
                f"Non-finite values at {when} ("
                + (what or f"test loss {test_loss}")
                + f"): not checkpointed. The last good checkpoint is "
                f"{self.manager.latest or 'none (nothing was saved)'}."
            )

    def _record(self, epoch, totals, test, train_time):
        metric = self.task.metric
        return {
            "epoch": epoch,
            "train_loss": totals[0] / totals[2],
            f"train_{metric}": totals[1] / totals[2],
            "test_loss": test["loss"],
            f"test_{metric}": test[metric],
            "train_time_s": train_time,
            "images_per_s": totals[2] / train_time,
            "learning_rate": float(
                keras.ops.convert_to_numpy(self.optimizer.learning_rate)
            ),
        }

    def finish(self):
        """Writes `metrics.json` and the export; returns the metrics."""
        config, strategy = self.config, self.strategy
        if len(self.history) != config.epochs:
            raise ValueError(
                f"{self.history_path} holds {len(self.history)} of the "
                f"{config.epochs} epochs its checkpoint says are trained (a "
                "workdir from an older version, stopped between its "
                "checkpoint and its record?): pass --restart to train it "
                "again from scratch."
            )
        metrics = {
            "run_name": self.name,
            **_history_metrics(self.history, self.task.metric, self.params),
            "num_train_examples": self.num_train,
            "num_test_examples": self.num_test,
            "num_replicas": strategy.num_replicas_in_sync,
            "global_batch_size": self.global_batch,
            "strategy": type(strategy).__name__,
            **_provenance(),
            **self.params,
        }
        if self.chief:
            files.write_json(
                os.path.join(self.workdir, "metrics.json"), metrics
            )
        if config.export:
            path = export.export_run(
                self.model,
                distribute.worker_dir(config.export_dir, strategy),
                self.name,
                files={
                    "config.json": config.to_dict(),
                    "metrics.json": metrics,
                    **self.task.export_files(config),
                },
                overwrite=config.overwrite or not self.chief,
            )
            metrics["export_path"] = path
            logging.info("Exported to %s", path)
        return metrics


def _read_history(path, start_epoch):
    """The records of the epochs the checkpoint holds."""
    if not os.path.exists(path):
        return []
    history = files.read_json(path, list, keys=("epoch",))
    return [h for h in history if h["epoch"] <= start_epoch]


def _provenance() -> dict:
    """Where and when a run was made: commit, finish time, CPU, versions."""
    cpu = machine.cpu_features()
    return {
        "code_version": machine.code_version(),
        "finished_at": datetime.datetime.now(datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "cpu_model": cpu.get("cpu_model"),
        "cpu_flags": cpu.get("cpu_flags"),
        "versions": machine.library_versions(),
    }


def _log_epoch(record, epochs, metric):
    logging.info(
        "epoch %d/%d: train loss %.4f %s %.4f | test loss %.4f %s %.4f "
        "| %.1f s, %.1f images/s",
        record["epoch"],
        epochs,
        record["train_loss"],
        metric,
        record[f"train_{metric}"],
        record["test_loss"],
        metric,
        record[f"test_{metric}"],
        record["train_time_s"],
        record["images_per_s"],
    )
