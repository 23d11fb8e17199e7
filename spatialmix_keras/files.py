"""The one writer for every file the apps produce: whole or not at all.

A file is written under a temporary name in its own directory and renamed
over the target, so a reader (or a crash) sees the old file or the new one,
never half of one; it gets the permissions of an ordinary new file (0666
less the umask), unlike `tempfile.mkstemp`'s private 0600.

>>> import tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "metrics.json")
>>> _ = write_json(path, {"accuracy": 0.5})
>>> open(path).read()
'{\\n  "accuracy": 0.5\\n}'
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_shareable(directory: str) -> None:
    """Gives a directory made by `tempfile.mkdtemp` (0700) the permissions
    of an ordinary new directory (0777 less the umask)."""
    os.chmod(directory, 0o777 & ~_umask())


def atomic_write(path: str, write: Callable[[str], None]) -> str:
    """Calls `write(tmp_path)`, then renames `tmp_path` over `path`.

    The temporary name keeps `path`'s extension (matplotlib and Keras pick
    the format by it). Returns `path`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class InUseError(OSError):
    """A directory is locked by another run."""


class DirectoryLock:
    """Holds an OS lock on `<directory>/<name>` (`fcntl.flock`) while in use.

    A second process meets it at once with one line naming the holder; the
    lock dies with its process, so a killed run never blocks the next one.

    Args:
        directory: where the lock file goes.
        what: what is locked, in the message (`"workdir"`).
        name: the lock file's name.
        shown: the path the message names (default: `directory`).
        hint: what to choose instead (default: `--<what>`).
    """

    def __init__(
        self,
        directory: str,
        what: str = "directory",
        name: str = ".lock",
        shown: str | None = None,
        hint: str | None = None,
    ):
        self.path = os.path.join(directory, name)
        self.directory, self.what = shown or directory, what
        self.hint = hint or f"--{what}"
        self._file = None

    def __enter__(self):
        import fcntl

        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise InUseError(
                f"The {self.what} {self.directory} is in use by {holder}; "
                f"wait for that run to end, or choose another {self.hint}."
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()} on {socket.gethostname()}")
        self._file.flush()
        return self

    def __exit__(self, *exc):
        self._file.close()  # closing releases the lock
        return False


def read_json(path: str, kind: type = dict, keys=()):
    """A JSON file this package wrote, read back and checked: a `kind`
    (`dict` or `list`; a list's items are dicts), with `keys` in the dict
    (in every item of a list). Anything else is one `ValueError` naming the
    file and what is wrong."""
    try:
        with open(path) as f:
            value = json.load(f)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({type(error).__name__}: "
            f"{str(error)[:120]}): empty, cut short or not ours?"
        ) from None
    items = value if kind is list and isinstance(value, list) else [value]
    if not isinstance(value, kind) or not all(
        isinstance(item, dict) for item in items
    ):
        raise ValueError(
            f"{path}: expected a JSON {kind.__name__}"
            f"{' of objects' if kind is list else ''}. Received: "
            f"{type(value).__name__}"
        )
    for item in items:
        missing = [k for k in keys if k not in item]
        if missing:
            raise ValueError(f"{path}: missing {', '.join(missing)}.")
    return value


def write_json(path: str, payload) -> str:
    """`payload` as indented, key-sorted JSON (unknown types as strings)."""

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True, default=str)

    return atomic_write(path, write)


def write_text(path: str, text: str) -> str:
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    return atomic_write(path, write)


def refuse_to_replace(directory: str, names, overwrite: bool) -> None:
    """Raises FileExistsError, before any work, when `directory` already
    holds one of the output files `names` and `overwrite` is off."""
    existing = [n for n in names if os.path.exists(os.path.join(directory, n))]
    if existing and not overwrite:
        raise FileExistsError(
            f"{directory} already holds {existing}; pass --overwrite or "
            "choose another --output_dir."
        )
