import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from spatialmix_keras import files


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = files.write_json(str(tmp_path / "m.json"), {"a": 1})
    finally:
        os.umask(old)
    assert _mode(path) == 0o644  # not mkstemp's private 0600
    assert json.load(open(path)) == {"a": 1}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "results.csv")
    files.write_text(path, "old\n")

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        files.atomic_write(path, broken)
    assert open(path).read() == "old\n"
    assert os.listdir(tmp_path) == ["results.csv"]


def _holding(directory, lock_args):
    """Another process holding `DirectoryLock(directory, <lock_args>)`
    until killed (it has the lock when this returns)."""
    script = (
        "import sys, time\n"
        "from spatialmix_keras.files import DirectoryLock\n"
        f"with DirectoryLock(sys.argv[1], {lock_args}):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_directory_lock_refuses_a_second_holder_and_dies_with_its_process(
    tmp_path,
):
    holder = _holding(tmp_path, "'workdir'")
    try:
        with pytest.raises(files.InUseError) as info:
            with files.DirectoryLock(str(tmp_path), "workdir"):
                pass
        assert str(info.value) == (
            f"The workdir {tmp_path} is in use by pid {holder.pid} on "
            f"{socket.gethostname()}; wait for that run to end, or choose "
            "another --workdir."
        )
    finally:
        holder.kill()
        holder.wait()
    # SIGKILLed holder: its lock went with it.
    with files.DirectoryLock(str(tmp_path), "workdir"):
        pass


def test_a_second_run_for_the_same_export_target_stops_at_its_start(
    data_dir, tmp_path
):
    exports = tmp_path / "exports"
    exports.mkdir()
    holder = _holding(exports, "'export target', name='.r.lock'")
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "apps.classify",
                "--config=configs/resnet_cifar10.py:smoke",
                f"--workdir={tmp_path / 'other_run'}",
                f"--export_dir={exports}",
                "--run_name=r",
            ],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            env={**os.environ, "SPATIALMIX_DATA_DIR": data_dir},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode != 0
    assert (
        f"The export target {exports / 'r'} is in use by pid {holder.pid} on "
        f"{socket.gethostname()}; wait for that run to end, or choose another "
        "--run_name or --export_dir." in result.stderr
    ), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "other_run" / "checkpoints")
