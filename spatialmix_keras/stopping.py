"""Stopping a run on request: SIGTERM / SIGINT become "save, then stop".

`StopRequests` turns the signals into a flag the training loop reads after
each step; the loop then saves a checkpoint and raises `Interrupted`, and the
apps and sweeps exit with `EXIT_INTERRUPTED`, so a scheduler (or a person)
knows that the same command resumes the run.
"""

import os
import signal
import threading
import time

from absl import logging


class Interrupted(Exception):
    """Training stopped on SIGTERM / SIGINT after saving a checkpoint; the
    same command resumes it (apps exit with `EXIT_INTERRUPTED`)."""


EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: "try again", e.g. a scheduler requeue


class StopRequests:
    """Turns SIGTERM and SIGINT into a request to stop after the current
    step (the loop saves and raises `Interrupted`); a second signal ends the
    process at once. Signals within `SAME_STOP_S` of the first count as the
    same stop: a signal to a whole process group (a scheduler's SIGTERM) also
    reaches a sweep that passes its own on. Handlers are installed only in
    the main thread and restored on exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)
    SAME_STOP_S = 1.0

    def __init__(self):
        self.signal_name = None
        self._first = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False

    def _handle(self, signum, frame):
        if self.signal_name is not None:
            if time.monotonic() - self._first < self.SAME_STOP_S:
                return
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signal_name = signal.Signals(signum).name
        self._first = time.monotonic()
        logging.warning(
            "%s received: saving after this step, then stopping (send it "
            "again to stop at once, losing the steps since the last "
            "checkpoint).",
            self.signal_name,
        )
