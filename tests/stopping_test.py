import signal

import conftest


def test_copies_of_one_stop_signal_count_once_a_later_one_ends_at_once():
    """A process-group SIGTERM reaches a run directly and through its sweep:
    both copies mean one stop (save, then exit); a signal sent later means
    "stop now"."""
    code = """
import os, signal, time
from spatialmix_keras import stopping
with stopping.StopRequests() as stop:
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)  # the copy, at once
    print("stopping:", stop.signal_name, flush=True)
    time.sleep(stopping.StopRequests.SAME_STOP_S + 0.2)
    os.kill(os.getpid(), signal.SIGTERM)  # another stop, later
    time.sleep(1)
    print("still running", flush=True)
"""
    result = conftest.run_python(code)
    assert result.stdout.splitlines() == ["stopping: SIGTERM"], result.stderr
    assert result.returncode == -signal.SIGTERM


def test_handlers_are_restored_when_the_run_ends():
    from spatialmix_keras import stopping

    def previous(signum, frame):
        raise AssertionError("the run's handler should have caught it")

    old = signal.signal(signal.SIGINT, previous)
    try:
        with stopping.StopRequests() as stop:
            assert signal.getsignal(signal.SIGINT) == stop._handle
            signal.raise_signal(signal.SIGINT)
            assert stop.signal_name == "SIGINT"
        assert signal.getsignal(signal.SIGINT) is previous
    finally:
        signal.signal(signal.SIGINT, old)
