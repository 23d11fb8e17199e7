"""Progress of long work, the way Keras shows it.

On a terminal, `keras.utils.Progbar` draws a bar with images/s and ETA; in a
log (stdout not a terminal, e.g. under a scheduler or `> log.txt`) the same
numbers come as plain lines every `log_every` steps. `Progress` also keeps
the measured rate, so a run can say at its start how long it will take.
"""

from __future__ import annotations

import datetime
import sys
import time

import keras
from absl import logging


def format_duration(seconds: float) -> str:
    """`3725.0` -> `'1 h 02 min'`; `75.0` -> `'1 min 15 s'`.

    >>> format_duration(3725.0), format_duration(75.0), format_duration(9.4)
    ('1 h 02 min', '1 min 15 s', '9 s')
    """
    if seconds != seconds:  # NaN: nothing measured yet
        return "unknown"
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def on_terminal() -> bool:
    return sys.stdout.isatty()


class Progress:
    """Progress over `total` units (steps or batches) of `unit_images` each.

    Args:
        total: units in this stretch of work (e.g. steps in an epoch).
        label: what the plain lines start with (`"epoch 3/10"`).
        unit_images: images per unit, for images/s.
        log_every: units between plain lines when not on a terminal.
        bar: draw a Keras progress bar (default: when stdout is a terminal),
            under a line naming `label` (as `fit`'s "Epoch 3/10").
        start: units already done (a resumed epoch).
        run_eta: seconds left in the whole run (e.g.
            `Estimate.seconds_left`), added to the plain lines.
    """

    def __init__(
        self,
        total: int,
        label: str,
        unit_images: int,
        log_every: int = 50,
        bar: bool | None = None,
        start: int = 0,
        run_eta=None,
    ):
        self.total, self.label, self.run_eta = total, label, run_eta
        self.unit_images, self.log_every = unit_images, max(log_every, 1)
        self.bar = on_terminal() if bar is None else bar
        self.start = self.done = self._logged = start
        self._t0 = time.perf_counter()
        self._progbar = (
            keras.utils.Progbar(
                total,
                stateful_metrics=["images/s"],
                unit_name="step",
            )
            if self.bar
            else None
        )
        if self._progbar is not None:
            print(label[:1].upper() + label[1:], flush=True)
            if start:
                self._progbar.update(start)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def images_per_s(self) -> float:
        done = self.done - self.start
        return done * self.unit_images / self.elapsed if done else 0.0

    def eta(self) -> float:
        """Seconds left at the rate measured so far."""
        done = self.done - self.start
        if not done:
            return float("nan")
        return (self.total - self.done) * self.elapsed / done

    def update(self, done: int, **values: float) -> None:
        """`done` units finished; `values` (loss, accuracy) are running
        means already, shown as they are."""
        self.done = done
        shown = {**values, "images/s": self.images_per_s()}
        if self._progbar is not None:
            # Every value is a running mean or a rate: show it as is.
            self._progbar.stateful_metrics = set(shown)
            self._progbar.update(done, list(shown.items()))
        elif (
            done // self.log_every > self._logged // self.log_every
            or done == self.total
        ):
            self._logged = done
            metrics = "".join(f"{k} {v:.4f} " for k, v in values.items())
            logging.info(
                "%s step %d/%d: %s%.1f images/s, ETA %s%s",
                self.label,
                done,
                self.total,
                metrics,
                self.images_per_s(),
                format_duration(self.eta()) if done < self.total else "0 s",
                self._run_eta(),
            )

    def _run_eta(self) -> str:
        seconds = self.run_eta() if self.run_eta else float("nan")
        if seconds != seconds:  # NaN: not measured yet
            return ""
        until = finish_time(seconds)
        return f"; run ETA {format_duration(seconds)} (until about {until})"


def over_batches(dataset, label: str | None, log_every: int = 10):
    """Iterates `dataset`, showing progress under `label` (None: silent)
    when its number of batches is known; yields its batches. Log lines come
    every `log_every` batches, and at least every quarter of the way."""
    import tensorflow as tf

    total = (
        int(dataset.cardinality())
        if isinstance(dataset, tf.data.Dataset)
        else -1
    )
    if label is None or total <= 0:
        yield from dataset
        return
    bar = None
    for done, batch in enumerate(dataset, start=1):
        if bar is None:
            every = min(log_every, max(1, total // 4))
            bar = Progress(total, label, int(batch[0].shape[0]), every)
        yield batch
        bar.update(done)


def finish_time(seconds_from_now: float) -> str:
    """The wall-clock time `seconds_from_now` ahead, `HH:MM` (local)."""
    at = datetime.datetime.now() + datetime.timedelta(seconds=seconds_from_now)
    return at.strftime("%H:%M")


class Estimate:
    """Says once, after the first measured steps, how long the run takes."""

    WARMUP, MEASURED = 3, 10  # steps: tracing first, then the rate

    def __init__(self, steps_left, global_batch):
        self.steps_left, self.global_batch = steps_left, global_batch
        self.count, self._t0 = 0, None

    def seconds_left(self) -> float:
        """The whole run's time left at the rate measured since warm-up
        (NaN before that), evaluation not counted."""
        if self._t0 is None or self.count <= self.WARMUP:
            return float("nan")
        seconds = (time.perf_counter() - self._t0) / (self.count - self.WARMUP)
        return (self.steps_left - self.count) * seconds

    def step(self):
        self.count += 1
        if self.count == self.WARMUP:
            self._t0 = time.perf_counter()
        elif self.count == self.WARMUP + self.MEASURED:
            seconds = (time.perf_counter() - self._t0) / self.MEASURED
            left = (self.steps_left - self.count) * seconds
            logging.info(
                "Measured %.1f images/s: the remaining %d steps take about "
                "%s plus evaluation, until about %s.",
                self.global_batch / seconds,
                self.steps_left - self.count,
                format_duration(left),
                finish_time(left),
            )
