import numpy as np
import tensorflow as tf
from absl import logging

from spatialmix_keras import progress


def test_plain_lines_every_log_every_units_with_rate_and_eta(monkeypatch):
    lines = []
    monkeypatch.setattr(
        logging, "info", lambda fmt, *args: lines.append(fmt % args)
    )
    bar = progress.Progress(10, "epoch 1/2", 32, log_every=4, bar=False)
    for done in range(1, 11):
        bar.update(done, loss=1.0 / done)
    assert [line.split(":")[0] for line in lines] == [
        "epoch 1/2 step 4/10",
        "epoch 1/2 step 8/10",
        "epoch 1/2 step 10/10",
    ]
    assert "loss 0.2500 " in lines[0] and "images/s, ETA" in lines[0]
    assert lines[-1].endswith("ETA 0 s")


def test_over_batches_yields_every_batch_and_reports_progress(monkeypatch):
    lines = []
    monkeypatch.setattr(
        logging, "info", lambda fmt, *args: lines.append(fmt % args)
    )
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    ds = tf.data.Dataset.from_tensor_slices(
        (np.zeros((25, 2), "f4"), np.arange(25))
    ).batch(10)
    seen = [int(b[1][0]) for b in progress.over_batches(ds, "eval", 1)]
    assert seen == [0, 10, 20]
    assert [line.split(":")[0] for line in lines] == [
        "eval step 1/3",
        "eval step 2/3",
        "eval step 3/3",
    ]
    assert [int(b[1][0]) for b in progress.over_batches(ds, None)] == seen


def test_durations_read_like_a_person_writes_them():
    assert progress.format_duration(29 * 3600 + 60) == "29 h 01 min"
    assert progress.format_duration(float("nan")) == "unknown"


def test_estimate_speaks_once_from_the_measured_steps(monkeypatch):
    lines = []
    monkeypatch.setattr(
        logging, "info", lambda fmt, *args: lines.append(fmt % args)
    )
    clock = iter(float(t) for t in range(100))  # one second per call
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(progress, "finish_time", lambda s: f"<in {s} s>")
    estimate = progress.Estimate(steps_left=100, global_batch=64)
    first = estimate.WARMUP + estimate.MEASURED
    for _ in range(first + 20):
        estimate.step()
    # The clock is read at the warm-up's end and again MEASURED steps on:
    # one second for MEASURED steps of 64 images each.
    rate, left = 64 * estimate.MEASURED, (100 - first) * (1 / estimate.MEASURED)
    assert lines == [
        f"Measured {rate:.1f} images/s: the remaining {100 - first} steps "
        f"take about {progress.format_duration(left)} plus "
        f"evaluation, until about <in {left} s>."
    ]
