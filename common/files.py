"""Files: writes that never leave a half-written file (write to a temporary path, then
move into place), folder locks, the per-user cache folder, and sha256 fingerprints."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common.errors import FolderBusyError, InputError

TEMPORARY_GLOB = ".*.tmp"
"""The names :func:`atomic_path` gives its temporary files (``.<name>.<random><suffix>.tmp``)."""
LOCK_NAME = ".lock"


@contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, with the
    mode an ordinary ``open()`` would give a new file (mkstemp's files are 0600)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask can only
    be read by setting it, which races with other threads creating files)."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def remove_temporary_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files a killed writer left anywhere under ``folder``; call it only
    while no one else writes there (under :func:`folder_lock`)."""
    leftovers = [p for p in Path(folder).rglob(TEMPORARY_GLOB) if p.is_file()]
    for path in leftovers:
        path.unlink()
    return leftovers


@contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the exclusive lock of the existing ``folder`` (flock on ``folder/.lock``) while the
    block runs. The OS drops it when the process ends, however it ends, so a killed holder
    never blocks the next one. The holder writes who it is into the file, and a second caller
    is refused with :class:`FolderBusyError` naming it."""
    with file_lock(Path(folder) / LOCK_NAME, Path(folder)):
        yield


@contextmanager
def file_lock(lock_file: str | os.PathLike[str], subject: str | os.PathLike[str], remove: bool = False) -> Iterator[None]:
    """Hold the exclusive lock on ``lock_file`` (flock; the file is created) while the block runs,
    for ``subject``, the thing it guards, which messages name: a folder, or one that does not
    exist yet and is replaced by rename (lock a file beside it then, e.g. ``<parent>/.<name>.lock``).
    A second caller is refused with :class:`FolderBusyError` naming the holder (pid, host,
    command, start time), as :func:`folder_lock`. ``remove``: delete the lock file on release
    (while still holding it; a caller that opened the old file meanwhile sees it gone and
    takes the lock on a new one)."""
    lock_file = Path(lock_file)
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise FolderBusyError(
                f"{subject} is in use by another process ({holder}); wait for it to finish or stop it, or choose another folder"
            ) from None
        if _is_same_file(fd, lock_file):
            break
        os.close(fd)  # the previous holder removed the file after we opened it: lock the current one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder()).encode(), 0)
        try:
            yield
        finally:
            if remove:
                with suppress(FileNotFoundError):
                    os.unlink(lock_file)
            else:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _is_same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _holder() -> dict[str, Any]:
    argv = list(sys.argv)
    if argv and argv[0].endswith(os.path.join("bench", "__main__.py")):
        argv[:1] = ["python", "-m", "bench"]
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": shlex.join(argv),
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _lock_holder(fd: int, attempts: int = 10) -> str:
    """Who holds the lock, as written in the lock file (the holder writes it just after it
    takes the lock, so an empty file is read again for a moment)."""
    for _ in range(attempts):
        try:
            holder = json.loads(os.pread(fd, 1 << 16, 0))
            return f"pid {holder['pid']} on host {holder['host']}, started {holder['started']}, command: {holder['command']}"
        except (ValueError, KeyError, TypeError):
            time.sleep(0.05)
    return "a process that has not written its details"


def write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_npy(target: str | os.PathLike[str], array: npt.ArrayLike) -> None:
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def replace_dir(staged: Path, target: Path) -> None:
    """Move the complete folder ``staged`` to ``target``, swapping out any old one last."""
    target = Path(target)
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, backup)
    try:
        os.replace(staged, target)
    except BaseException:
        if backup is not None:
            os.replace(backup, target)
        raise
    if backup is not None:
        try:
            shutil.rmtree(backup)
        except OSError as err:
            warnings.warn(f"{target} was replaced, but its old copy could not be removed ({err}); delete {backup}", stacklevel=2)


def cache_dir() -> Path:
    """Per-user cache (``$BENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/noise-mask-bench``), created
    if need be; one that cannot be created or written is an :class:`InputError` naming it and
    the variables that choose another (an unwritable HOME, a read-only file system).

    ``XDG_CACHE_HOME`` follows the XDG Base Directory Specification: set but empty is unset,
    and a relative path is invalid and ignored; either way the default ``$HOME/.cache`` is used
    (never a folder relative to the current directory). An empty ``BENCH_CACHE_DIR`` is unset too."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    path = Path(os.environ.get("BENCH_CACHE_DIR") or base / "noise-mask-bench")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{path}: the cache folder cannot be created ({err.strerror}). {_CACHE_ADVICE}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{path}: the cache folder is not writable. {_CACHE_ADVICE}")
    return path


_CACHE_ADVICE = (
    "The suite keeps the embedded images and converted weights there; set BENCH_CACHE_DIR (or XDG_CACHE_HOME) to a "
    "writable folder, or make this one writable."
)


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
