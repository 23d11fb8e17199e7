import json
import os
import stat

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
