"""The suite's own input errors.

A :class:`InputError` means the user asked for something the suite cannot do as asked (an
unknown method, a bad parameter value, missing data or weights); the command line prints
its message without a traceback and exits with code 2. So does an :class:`OSError` that the
environment caused (:func:`environment_fault`: a folder it cannot write, a full disk), naming
the path. Any other exception is a bug, in the suite or in a method, and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class InputError(ValueError):
    """A problem with the user's arguments, files or environment; the message says what to do."""


class UnknownNameError(InputError, KeyError):
    """A name (method, model, profile, preset) that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ParameterError(InputError, TypeError):
    """A parameter that does not exist or whose value is of the wrong type or out of range."""


class DataFileError(InputError):
    """An input file (an image set's CSV or image, a checkpoint) that is unreadable or malformed; the message names it."""


class DataFileMissing(DataFileError, FileNotFoundError):
    """An input file or folder that is not there, a broken link or a symlink loop; the message names it."""


class CorruptFileError(InputError):
    """A file the suite wrote earlier is unreadable or inconsistent; the message names it and says how to recover."""


class FolderBusyError(InputError):
    """Another process holds the folder's lock; the message names it (pid, host, command, start time)."""


class MethodOutputError(InputError):
    """A saliency method returned what no metric can score (NaN or infinite relevance); the
    message names the method. A plug-in's fault the user can act on, so exit code 2."""


ENVIRONMENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})
"""The errors of a file system that the user controls (its permissions, its space), not the suite."""


def environment_fault(err: OSError) -> str | None:
    """The message of an :class:`OSError` that the environment caused, naming the path (an
    unwritable results folder or HOME, a read-only or full disk); None for any other error
    (a bug, which keeps its traceback). The suite's own hidden working files (a temporary file
    of an atomic write, a staging folder, a lock) are named by the folder they were to be in."""
    if err.errno not in ENVIRONMENT_ERRNOS or not err.filename:
        return None
    path = Path(os.fsdecode(err.filename))
    if path.name.startswith("."):
        path = path.parent
    advice = (
        "free some space or choose another folder"
        if err.errno in (errno.ENOSPC, errno.EDQUOT)
        else "make it writable, or choose another folder (--out; for the cache, BENCH_CACHE_DIR)"
    )
    return f"{path}: {err.strerror.lower() if err.strerror else err}; the command stopped there. To go on, {advice}"
