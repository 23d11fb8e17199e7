"""Test helper: start a command and SIGKILL it once a file appears."""

import signal
import subprocess
import time


def kill_when_exists(args, path, timeout=240, **popen_kwargs):
    """Runs `args`, waits until `path` exists, then SIGKILLs the process.

    Fails if the process ends first (it finished before it could be killed)
    or `path` does not appear within `timeout` seconds.
    """
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **popen_kwargs,
    )
    try:
        deadline = time.time() + timeout
        while not path.exists() and time.time() < deadline:
            assert proc.poll() is None, "finished before it could be killed"
            time.sleep(0.1)
        assert path.exists(), f"{path} did not appear within {timeout} s"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
