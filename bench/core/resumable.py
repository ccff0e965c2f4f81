"""The resumable output folder every long command writes into (``bench run``, ``bench sanity``,
``bench discover``): one writer at a time, a manifest whose fingerprint decides whether the folder
may be resumed, per-unit records whose presence marks finished work, and no half-written file
left behind by a killed writer.

The life of such a folder, under its lock (:func:`common.files.folder_lock`)::

    previous = folder.resume(fingerprint, log)   # refuse, or clean leftovers; None for a new folder
    folder.write_manifest({..., "status": "running"})
    ... records written atomically, one per finished unit ...
    folder.write_manifest({..., "status": "complete"})

A refusal happens before anything is written (:class:`FolderError`, exit code 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.core.fingerprint import fingerprint_differences
from bench.core.jsonfiles import read_json_file
from bench.core.provenance import jsonable
from common.errors import InputError
from common.files import folder_lock, remove_temporary_files, write_json

RUNNING, COMPLETE = "running", "complete"
"""A manifest's ``status``: work may be missing, or every unit is done."""


class FolderError(InputError):
    """A folder that cannot be used as asked (another folder's content, records of unknown settings)."""


class ResumableFolder:
    """An output folder of records and one JSON manifest (``manifest``) holding a ``fingerprint``.

    ``what`` and ``same`` name the folder's content and what a resumed command must share, for
    the refusal ("holds a sanity run with different settings ... Resume only with the same model,
    ..."). ``record_patterns``: globs (relative to the folder) of the records; records without a
    manifest are refused, since their settings are unknown. Subclasses with a manifest of another
    shape override :meth:`read_manifest` and :meth:`stored_fingerprint`.
    """

    def __init__(
        self,
        root: str | Path,
        manifest: str,
        what: str,
        same: str,
        record_patterns: tuple[str, ...] = ("records/**/*.json",),
    ):
        self.root = Path(root)
        self.manifest_path = self.root / manifest
        self.what, self.same = what, same
        self.record_patterns = record_patterns
        self.refusal: type[FolderError] = FolderError
        """The error a refusal raises (a subclass of :class:`FolderError`)."""

    # ---------------------------------------------------------------- manifest
    def read_manifest(self) -> dict | None:
        """The manifest's content, None when there is none (an unreadable one is named)."""
        return read_json_file(self.manifest_path)

    def write_manifest(self, content: dict) -> None:
        """Replace the manifest atomically (numpy values made JSON)."""
        write_json(self.manifest_path, jsonable(content))

    def stored_fingerprint(self, manifest: dict) -> dict:
        """The fingerprint a manifest holds."""
        return manifest.get("fingerprint", {})

    def status(self) -> str | None:
        """The manifest's ``status`` (:data:`RUNNING`, :data:`COMPLETE`), None for a folder without one."""
        manifest = self.read_manifest()
        return None if manifest is None else manifest.get("status")

    # ---------------------------------------------------------------- records
    def has_records(self) -> bool:
        return any(next(iter(self.root.glob(pattern)), None) is not None for pattern in self.record_patterns)

    # ---------------------------------------------------------------- resuming
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive use of the folder (created if missing) by one writer at a time."""
        self.root.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.root):
            yield

    def check(self, fingerprint: dict) -> dict | None:
        """The previous manifest, or None for a new folder; :class:`FolderError` when records exist
        without a manifest or the manifest's fingerprint differs from ``fingerprint`` (naming what differs)."""
        previous = self.read_manifest()
        if previous is None and self.has_records():
            raise self.refusal(
                f"{self.root} holds records but no {self.manifest_path.name}, so their settings are unknown; choose another --out"
            )
        if previous is not None:
            differences = fingerprint_differences(self.stored_fingerprint(previous), jsonable(fingerprint))
            if differences:
                raise self.refusal(
                    f"{self.root} holds {self.what} with different settings: {'; '.join(differences)}. Resume only with "
                    f"{self.same}, or choose another --out."
                )
        return previous

    def resume(self, fingerprint: dict, log: Callable[[str], None] = print) -> dict | None:
        """Under :meth:`lock`: :meth:`check` the folder, then delete what a killed writer left
        half-written. Returns the previous manifest (None for a new folder)."""
        previous = self.check(fingerprint)
        if previous is not None:
            log(f"resuming {self.what} in {self.root}")
        self.remove_leftovers(log)
        return previous

    def remove_leftovers(self, log: Callable[[str], None] = print) -> list[Path]:
        """Delete the temporary files a killed writer left (only under :meth:`lock`)."""
        leftovers = remove_temporary_files(self.root)
        if leftovers:
            log(f"removed {len(leftovers)} half-written temporary files left by an interrupted run")
        return leftovers
