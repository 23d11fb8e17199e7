"""Checkpoints that are whole or absent, and a resume that verifies them.

A run's `checkpoints/` directory holds TensorFlow checkpoints `ckpt-N`
(`tf.train.Checkpoint.write`: `ckpt-N.index` and `ckpt-N.data-*`).

- **Writing** goes into a hidden sibling directory `.writing-N/` and is then
  moved into place, data files first and the index last, so a kill, a crash
  or a full disk in the middle leaves the previous checkpoints untouched and
  at most a stray `.writing-N/` (set aside on the next start). A failed write
  raises `CheckpointError` naming the checkpoint that is still whole.
- **Restoring** reads every tensor of the newest checkpoint before using it.
  One that does not read back whole (truncated by a crash or a full disk) is
  moved into `checkpoints/aside/` (never deleted) with a one-line warning,
  and the next newest is tried; if checkpoints exist but none is whole,
  `CheckpointError` names them.

TensorFlow's `checkpoint` state file (names relative to the directory) is kept
up to date for `tf.train.latest_checkpoint`, but resume does not trust it: the
newest whole `ckpt-N` is the state. Older workdirs, written by
`tf.train.CheckpointManager`, resume the same way.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import time

import tensorflow as tf
from absl import logging
from google.protobuf import text_format

from spatialmix_keras import files

# Tests only: a path; once a checkpoint exists, the next `save` creates it
# and sleeps inside the write (files written, not yet moved into place), so
# that a test can kill the process there.
PAUSE_ENV = "SPATIALMIX_PAUSE_IN_CHECKPOINT_WRITE"
ASIDE = "aside"
_INDEX = re.compile(r"ckpt-(\d+)\.index$")


class CheckpointError(OSError):
    """No whole checkpoint to resume from, or one could not be written."""


def _numbers(directory) -> list[int]:
    """The checkpoint numbers present, newest first."""
    found = []
    for path in glob.glob(os.path.join(directory, "ckpt-*.index")):
        match = _INDEX.search(path)
        if match:
            found.append(int(match.group(1)))
    return sorted(found, reverse=True)


def _files(prefix) -> list[str]:
    return sorted(glob.glob(glob.escape(prefix) + ".*"))


def is_whole(prefix: str) -> bool:
    """Whether every tensor of the checkpoint at `prefix` reads back."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, OSError, ValueError):
        return False
    return True


class Checkpoints:
    """Saves and restores one `tf.train.Checkpoint` in a directory.

    Args:
        checkpoint: the `tf.train.Checkpoint` (model, optimizer, counters).
        directory: where `ckpt-N` files go.
        keep: how many of the newest checkpoints to keep.
    """

    def __init__(self, checkpoint, directory: str, keep: int = 2):
        self.checkpoint = checkpoint
        # Created lazily by TensorFlow; made now, so that every checkpoint
        # holds it and a restore matches every object (as the manager's do).
        getattr(checkpoint, "save_counter", None)
        self.directory = directory
        self.keep = keep
        numbers = _numbers(directory)
        self.latest = self._prefix(numbers[0]) if numbers else None

    def _prefix(self, number):
        return os.path.join(self.directory, f"ckpt-{number}")

    def _set_aside(self, paths):
        aside = os.path.join(
            self.directory, ASIDE, time.strftime("%Y%m%d-%H%M%S")
        )
        os.makedirs(aside, exist_ok=True)
        for path in paths:
            shutil.move(path, os.path.join(aside, os.path.basename(path)))
        return aside

    def restore(self):
        """Restores the newest whole checkpoint into `checkpoint`.

        Returns:
            Its path prefix, or None when there is none (a fresh run).

        Raises:
            CheckpointError: checkpoints exist but none reads back whole
                (they have been moved into `aside/`).
            ValueError: the checkpoint does not fit the model/optimizer.
        """
        stray = glob.glob(os.path.join(self.directory, ".writing-*"))
        if stray:
            where = self._set_aside(stray)
            logging.warning(
                "Set aside %d unfinished checkpoint write(s) in %s.",
                len(stray),
                where,
            )
        numbers = _numbers(self.directory)
        set_aside = []
        for number in numbers:
            prefix = self._prefix(number)
            if is_whole(prefix):
                break
            where = self._set_aside(_files(prefix))
            set_aside.append(os.path.basename(prefix))
            logging.warning(
                "Checkpoint %s does not read back whole (a crash or a full "
                "disk while it was written?): moved to %s; resuming from the "
                "one before.",
                prefix,
                where,
            )
        else:
            self.latest = None
            if set_aside:
                raise CheckpointError(
                    f"No whole checkpoint in {self.directory}: "
                    f"{', '.join(set_aside)} did not read back and were moved "
                    f"to {os.path.join(self.directory, ASIDE)}. Use a new "
                    "workdir, or move them back to inspect them."
                )
            return None
        try:
            self.checkpoint.restore(prefix).assert_existing_objects_matched()
        except (ValueError, AssertionError) as error:
            raise ValueError(
                f"The checkpoint {prefix} does not fit this config (another "
                "model or optimizer?). Resume with the config it was made "
                f"with, or use a new workdir. ({error})"
            ) from error
        self.latest = prefix
        return prefix

    def save(self) -> str:
        """Writes the next checkpoint whole, then drops the oldest beyond
        `keep`. Returns its path prefix.

        Raises:
            CheckpointError: the write failed (full disk, read-only
                directory...); the previous checkpoint is untouched.
        """
        numbers = _numbers(self.directory)
        number = (numbers[0] + 1) if numbers else 1
        staging = os.path.join(self.directory, f".writing-{number}")
        prefix = self._prefix(number)
        try:
            os.makedirs(staging, exist_ok=True)
            self.checkpoint.write(os.path.join(staging, f"ckpt-{number}"))
            pause = os.environ.get(PAUSE_ENV)
            if pause and numbers:
                open(pause, "w").close()
                time.sleep(3600)
            written = _files(os.path.join(staging, f"ckpt-{number}"))
            index = [p for p in written if p.endswith(".index")]
            for path in [p for p in written if p not in index] + index:
                os.replace(
                    path, os.path.join(self.directory, os.path.basename(path))
                )
            os.rmdir(staging)
        except (tf.errors.OpError, OSError) as error:
            shutil.rmtree(staging, ignore_errors=True)
            kept = (
                f"the previous checkpoint {self.latest} is whole"
                if self.latest
                else "no earlier checkpoint exists"
            )
            reason = (
                getattr(error, "strerror", None)
                or getattr(error, "message", None)
                or str(error)
            )
            raise CheckpointError(
                f"Writing the checkpoint {prefix} failed ({reason.strip()}); "
                f"{kept}. Free space or fix permissions, then run the same "
                "command to resume from it."
            ) from error
        self.latest = prefix
        numbers = _numbers(self.directory)
        for old in numbers[self.keep :]:
            for path in _files(self._prefix(old)):
                os.remove(path)
        # TensorFlow's own state file, for `tf.train.latest_checkpoint`
        # users (resume here does not read it). Names relative to the
        # directory, so a moved or copied run directory still finds them;
        # written like every output (`update_checkpoint_state` would do the
        # same but log a deprecation warning into every run).
        state = tf.compat.v1.train.generate_checkpoint_state_proto(
            self.directory,
            os.path.basename(prefix),
            [f"ckpt-{n}" for n in reversed(numbers[: self.keep])],
        )
        files.write_text(
            os.path.join(self.directory, "checkpoint"),
            text_format.MessageToString(state),
        )
        return prefix
