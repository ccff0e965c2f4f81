"""Fetch the NIPS-2017 development set (Kaggle or a local copy) into a verified folder.

Whatever the source, the images are validated and staged in a temporary folder beside
the target, a manifest with one sha256 per file is written, and only then is the folder
moved into place: a failed fetch leaves ``data_dir`` as it was. A set already there is
replaced by a different one only when asked (``replace=True``, ``--replace``).

A fetch holds the lock of ``data_dir`` from start to end: the file ``<parent>/.<name>.lock``
beside it (the folder itself is replaced by rename, so it cannot hold its own lock); a second
fetch into the same folder is refused with :class:`common.errors.FolderBusyError` naming the
first. Every failure is an :class:`common.errors.InputError` (exit code 2) naming the file,
or the zip member (``archive.zip:images/x.png``), and leaves nothing behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import InputError, environment_fault
from common.files import file_lock, file_sha256, replace_dir, write_json
from common.progress import progress

from .imageset import CSV_NAME, IMAGES_DIR, missing_reason, read_csv, read_png_rgb, require_regular_file

KAGGLE_DATASET = "google-brain/nips-2017-adversarial-learning-development-set"
KAGGLE_COMPETITION = "nips-2017-non-targeted-adversarial-attack"
MANIFEST = "manifest.json"
NIPS_SIZE = (299, 299)
REQUIRED_COLUMNS = ["ImageId", "TrueLabel", "TargetClass", "License", "Author"]


ZIP_MAX_MEMBERS = 10_000
ZIP_MAX_BYTES = 2 << 30
ZIP_MAX_RATIO = 100
ZIP_RATIO_FROM = 1 << 20
"""Limits on a zip that fetch extracts, checked on every member before anything is written and
again while its bytes are written (a header may lie). The NIPS-2017 set is 1,000 PNGs of
~100-250 KB and a CSV: about 1,001 members and 200 MB, already compressed (PNG), so a member
expands about 1x and the CSV about 5x. The bounds are ten times the set (10,000 members, 2 GiB
in all) and a ratio of 100 for any member over 1 MiB: far beyond a real copy, far below a zip
bomb (a 2 MB zip that expands to 2 GB is a ratio of 1,000)."""


class FetchError(InputError):
    """A fetch or import that cannot proceed (exit code 2); the message says which file and why."""


class FetchRefused(InputError):
    """The data folder holds a different set (and ``replace`` was not given) or cannot be written; nothing was changed."""


@dataclass
class FetchResult:
    data_dir: Path
    images: int
    status: str
    """'imported', 'replaced' or 'verified' (already present and intact: nothing written)."""


# ---------------------------------------------------------------- validation


def validate_image_set(root: Path, expected_size: tuple[int, int] | None = NIPS_SIZE, show_progress: bool = True) -> pd.DataFrame:
    """Check ``root`` is a complete image set; return its table. Raises FetchError naming the bad file."""
    csv_path = root / CSV_NAME
    try:
        table = read_csv(root)  # checks ids (plain file stems, unique) and that labels are numbers
    except InputError as err:
        raise FetchError(str(err)) from None
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing_cols:
        raise FetchError(f"{csv_path}: missing columns {missing_cols}")
    for column in ("TrueLabel", "TargetClass"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table["ImageId"][~values.between(1, 1000)].tolist()
        if bad:
            raise FetchError(
                f"{csv_path}: {column} must be in 1..1000 (1,001 classes, 0 = background); bad rows for ids {bad[:5]}"
            )
    files = {p.stem for p in (root / IMAGES_DIR).glob("*.png")}
    no_file = [i for i in table["ImageId"] if i not in files]
    if no_file:
        raise FetchError(f"{root / IMAGES_DIR}: missing image files for ids {no_file[:5]} (listed in {CSV_NAME})")
    no_row = sorted(files - set(table["ImageId"]))
    if no_row:
        raise FetchError(f"{root / IMAGES_DIR / (no_row[0] + '.png')}: image has no row in {CSV_NAME}")
    for image_id in progress(table["ImageId"], desc="validating images", unit="images", disable=not show_progress):
        check_png(root / IMAGES_DIR / f"{image_id}.png", expected_size)
    return table


def check_png(path: Path, expected_size: tuple[int, int] | None) -> None:
    try:
        size = read_png_rgb(path).shape[:2]
    except InputError as err:
        raise FetchError(str(err)) from None
    if expected_size is not None and size != tuple(expected_size):
        raise FetchError(f"{path}: expected {expected_size[0]}x{expected_size[1]} pixels, got {size[0]}x{size[1]}")


def find_root(folder: Path) -> Path:
    """The folder holding images.csv and images/ (the source itself or one level down)."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / CSV_NAME).is_file() and (candidate / IMAGES_DIR).is_dir():
            return candidate
    if os.path.lexists(folder / CSV_NAME):
        regular(folder / CSV_NAME)  # a broken link, a loop, a FIFO: named
    if os.path.lexists(folder / IMAGES_DIR) and not (folder / IMAGES_DIR).exists():
        raise FetchError(f"{folder / IMAGES_DIR} {missing_reason(folder / IMAGES_DIR)}")
    raise FetchError(f"{folder}: no {CSV_NAME} with an {IMAGES_DIR}/ folder beside it")


def regular(path: Path) -> Path:
    """``path``, refused (:class:`FetchError` naming it) unless a regular file: fetch never opens a
    named pipe or a device, which could block it forever."""
    try:
        require_regular_file(path)
    except InputError as err:
        raise FetchError(str(err)) from None
    return path


# ---------------------------------------------------------------- manifest


def build_manifest(root: Path, show_progress: bool = True) -> dict:
    files = [root / CSV_NAME, *sorted((root / IMAGES_DIR).glob("*.png"))]
    return {
        "format": "nips17-image-set/1",
        "files": {
            str(p.relative_to(root)): file_sha256(regular(p))
            for p in progress(files, desc="hashing", unit="files", disable=not show_progress)
        },
    }


def verify_manifest(data_dir: Path, show_progress: bool = True) -> dict:
    """Check every file in ``data_dir`` against its manifest; return the manifest."""
    path = data_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FetchError(f"{path}: missing or unreadable manifest ({err})") from None
    for rel, digest in progress(manifest["files"].items(), desc="verifying", unit="files", disable=not show_progress):
        file = data_dir / rel
        if not file.is_file():
            raise FetchError(f"{file}: listed in {path} but missing")
        if file_sha256(file) != digest:
            raise FetchError(f"{file}: sha256 differs from {path}; re-run fetch to repair")
    return manifest


# ---------------------------------------------------------------- import


def import_image_set(
    source: str | os.PathLike, data_dir: str | os.PathLike, show_progress: bool = True, replace: bool = False
) -> FetchResult:
    """Import a local copy (a folder or a .zip in the NIPS-2017 layout) into ``data_dir``.

    A different set already in ``data_dir`` is replaced only if ``replace``; otherwise
    :class:`FetchRefused` is raised and nothing changes. A damaged copy of the same set is repaired.
    The whole import holds ``data_dir``'s lock (:func:`fetch_lock`).
    """
    source, data_dir = Path(source), Path(data_dir)
    if not source.exists():
        raise FetchError(f"{source} {missing_reason(source, 'file or folder')}")
    prepare_parent(data_dir)
    with fetch_lock(data_dir):
        return _import(source, data_dir, show_progress, replace)


def fetch_lock(data_dir: Path):
    """The lock of ``data_dir`` for a fetch: ``<parent>/.<name>.lock``, removed when released."""
    return file_lock(data_dir.parent / f".{data_dir.name}.lock", data_dir, remove=True)


def _import(
    source: Path, data_dir: Path, show_progress: bool, replace: bool, label: tuple[Path, str] | None = None
) -> FetchResult:
    """:func:`import_image_set` under the lock. ``label``: (a folder, what to call it in messages)."""
    with (
        out_of_space_is_named(data_dir, source),
        tempfile.TemporaryDirectory(prefix=f".{data_dir.name}.staging-", dir=data_dir.parent) as staging_name,
    ):
        staging = Path(staging_name)
        from_zip = not source.is_dir()
        if from_zip:
            regular(source)
            if not zipfile.is_zipfile(source):
                raise FetchError(f"{source}: not a folder or a zip archive")
            extract_zip(source, staging / "unzipped")
            label = (staging / "unzipped", f"{source}:")
        with members_named(label):
            root = find_root(staging / "unzipped" if from_zip else source)
            table = validate_image_set(root, show_progress=show_progress)
            if table.empty:
                raise FetchError(f"{source}: an empty image set ({CSV_NAME} lists no images); nothing to import")
            incoming = build_manifest(root, show_progress=show_progress)
        if existing_copy(data_dir, incoming, source, replace, show_progress) == "verified":
            return FetchResult(data_dir, len(table), "verified")
        require_writable(data_dir)

        new = staging / "new"
        (new / IMAGES_DIR).mkdir(parents=True)
        transfer = os.replace if from_zip else shutil.copy2  # a zip's files are ours to move
        with members_named(label):
            transfer(regular(root / CSV_NAME), new / CSV_NAME)
            for image_id in progress(table["ImageId"], desc="copying", unit="images", disable=not show_progress):
                transfer(regular(root / IMAGES_DIR / f"{image_id}.png"), new / IMAGES_DIR / f"{image_id}.png")
        if build_manifest(new, show_progress=False)["files"] != incoming["files"]:
            raise FetchError(f"{source}: files changed while being imported; try again")
        write_json(new / MANIFEST, {**incoming, "source": str(source), "images": len(table)})
        status = "replaced" if data_dir.exists() else "imported"
        replace_dir(new, data_dir)
    return FetchResult(data_dir, len(table), status)


@contextmanager
def members_named(label: tuple[Path, str] | None) -> Iterator[None]:
    """Errors that name a file extracted to ``label[0]`` name it as ``label[1]`` + its path there
    (``archive.zip:images/x.png``), not by the staging folder that is deleted."""
    try:
        yield
    except FetchError as err:
        if label is None:
            raise
        raise FetchError(str(err).replace(f"{label[0]}{os.sep}", label[1]).replace(str(label[0]), label[1].rstrip(":"))) from None


@contextmanager
def out_of_space_is_named(data_dir: Path, source: Path) -> Iterator[None]:
    """A full disk (or quota) while staging is a :class:`FetchError`, raised after the staging
    folder is gone: nothing is left behind and ``data_dir`` is as it was."""
    try:
        yield
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise FetchError(
            f"{data_dir.parent}: no space left on the device ({err.strerror}) while importing {source}; fetch "
            f"stages the whole set there, beside {data_dir} (the NIPS-2017 set needs about 0.5 GB). "
            f"Nothing was changed; free some space and run fetch again."
        ) from None


# ---------------------------------------------------------------- zip archives


def extract_zip(archive: Path, dest: Path, name: str | None = None) -> None:
    """Extract ``archive`` into ``dest`` within the ``ZIP_*`` limits (see :data:`ZIP_RATIO_FROM`).

    Every member is checked before anything is written: at most :data:`ZIP_MAX_MEMBERS`, at most
    :data:`ZIP_MAX_BYTES` uncompressed in all, no member over 1 MiB expanding more than
    :data:`ZIP_MAX_RATIO` times, and only plain relative paths (no absolute path, no ``..``, no
    links or devices). The bytes written are counted against the same limits. Errors name the
    member as ``archive.zip:path`` (``name``: how to call the archive instead of its path).
    """
    label = name or str(archive)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            check_members(members, label)
            written = 0
            for info in members:
                written += _extract_member(zf, info, dest, label, ZIP_MAX_BYTES - written)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
        raise FetchError(f"{label}: not a readable zip archive ({type(err).__name__}: {err})") from None


def check_members(members: list[zipfile.ZipInfo], label: str) -> None:
    """Refuse an archive over the ``ZIP_*`` limits, or one with a member that is no plain relative path."""
    if len(members) > ZIP_MAX_MEMBERS:
        raise FetchError(
            f"{label}: {len(members):,} members; fetch extracts at most {ZIP_MAX_MEMBERS:,} (the NIPS-2017 set has 1,001)"
        )
    total, seen = 0, set()
    for info in members:
        where = f"{label}:{info.filename}"
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith(("/", "\\")) or (len(parts[0]) == 2 and parts[0][1] == ":") or ".." in parts:
            raise FetchError(f"{where}: an absolute path or one with '..'; fetch extracts only paths inside the archive")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise FetchError(f"{where}: not a regular file or folder (a link or device); fetch extracts only files")
        if info.filename.rstrip("/") in seen:
            raise FetchError(f"{where}: appears twice in the archive")
        seen.add(info.filename.rstrip("/"))
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ZIP_RATIO_FROM and ratio > ZIP_MAX_RATIO:
            raise FetchError(
                f"{where}: expands {ratio:,.0f} times ({info.compress_size:,} to {info.file_size:,} bytes); fetch refuses "
                f"members over {ZIP_RATIO_FROM >> 20} MiB that expand more than {ZIP_MAX_RATIO} times (a zip bomb?)"
            )
        total += info.file_size
        if total > ZIP_MAX_BYTES:
            raise FetchError(
                f"{where}: the archive expands to more than {ZIP_MAX_BYTES:,} bytes; fetch extracts at most that "
                "(the NIPS-2017 set is about 200 MB)"
            )


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, label: str, budget: int) -> int:
    """Write one checked member under ``dest``; returns its bytes. Stops at its declared size or ``budget``."""
    where = f"{label}:{info.filename}"
    target = dest.joinpath(*[p for p in info.filename.split("/") if p not in ("", ".")])
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return 0
    limit = min(info.file_size, budget)
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "xb") as out:
            while block := src.read(1 << 20):
                written += len(block)
                if written > limit:
                    raise FetchError(f"{where}: holds more bytes than its header declares ({info.file_size:,}); refused")
                out.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as err:  # damaged, encrypted
        raise FetchError(f"{where}: cannot be extracted ({type(err).__name__}: {err})") from None
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise FetchError(f"{where}: cannot be extracted ({err.strerror})") from None
    return written


def existing_copy(data_dir: Path, incoming: dict, source: Path, replace: bool, show_progress: bool) -> str | None:
    """'verified' when ``data_dir`` already holds the incoming set intact, else None (it may be written).

    Raises when ``data_dir`` was not made by fetch, or holds a different set and ``replace`` is false.
    """
    if not data_dir.exists() or not any(data_dir.iterdir()):
        return None
    manifest = data_dir / MANIFEST
    if not manifest.is_file():
        raise FetchError(
            f"{data_dir}: exists, is not empty and holds no {MANIFEST}; it was not made by fetch. "
            "Remove it or choose another --data-dir."
        )
    try:
        recorded = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    if recorded == incoming["files"]:
        try:
            verify_manifest(data_dir, show_progress=show_progress)
            return "verified"
        except FetchError:
            return None  # the same set, damaged: repair it from the validated copy
    if not replace:
        raise FetchRefused(
            f"{data_dir} already holds a different image set; importing {source} would replace it. "
            "Nothing was changed. To replace it, run again with --replace (Python: replace=True)."
        )
    return None


def prepare_parent(data_dir: Path) -> None:
    """Create ``data_dir``'s parent, where fetch stages its work; refuse clearly if it cannot be written."""
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FetchRefused(f"{data_dir.parent}: cannot create the folder for {data_dir} ({err.strerror})") from None
    if not os.access(data_dir.parent, os.W_OK | os.X_OK):
        raise FetchRefused(f"{data_dir.parent}: read-only; fetch stages its files there, beside {data_dir}. Nothing was written.")


def require_writable(data_dir: Path) -> None:
    """Refuse before writing when the old copy (any of its folders) is read-only: swapping it out
    would half succeed and leave its files behind."""
    folders = [Path(d) for d, _, _ in os.walk(data_dir)]
    locked = [f for f in folders if not os.access(f, os.W_OK | os.X_OK)]
    if locked:
        raise FetchRefused(f"{locked[0]}: read-only; fetch cannot replace {data_dir}. Nothing was changed.")


# ---------------------------------------------------------------- Kaggle

KAGGLE_HELP = """Kaggle API credentials were not found. To create them:
  1. Sign in at kaggle.com, open Settings -> API, and click "Create New Token".
  2. Either save the downloaded kaggle.json as ~/.kaggle/kaggle.json (chmod 600),
     or export KAGGLE_USERNAME=<user> and KAGGLE_KEY=<key>,
     or export KAGGLE_API_TOKEN=<token> (newer tokens; or save it as ~/.kaggle/access_token).
  3. Accept the dataset's terms on its Kaggle page, then run fetch again.
Without Kaggle access, import a local copy instead: python -m bench fetch --source PATH"""


def kaggle_config_files(environ: Mapping[str, str] | None = None, home: Path | None = None) -> list[Path]:
    """The places the Kaggle client reads a ``kaggle.json`` from (``$KAGGLE_CONFIG_DIR``,
    ``~/.kaggle``, ``~/.config/kaggle``)."""
    env = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    config_dirs = [Path(env["KAGGLE_CONFIG_DIR"])] if env.get("KAGGLE_CONFIG_DIR") else []
    return [d / "kaggle.json" for d in [*config_dirs, home / ".kaggle", home / ".config" / "kaggle"]]


def kaggle_credentials_present(environ: dict | None = None, home: Path | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    files = kaggle_config_files(env, home)
    return any(f.is_file() or (f.parent / "access_token").is_file() for f in files)


def check_kaggle_config(environ: dict | None = None, home: Path | None = None) -> None:
    """Refuse (:class:`FetchError` naming it) a ``kaggle.json`` that is not a JSON object: the
    Kaggle client ignores one that is no JSON and fails with a traceback on one that is JSON
    but not an object (a list, a string), whichever credentials are used."""
    for path in kaggle_config_files(environ, home):
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise FetchError(f"{path}: unreadable Kaggle credentials file ({err}).\n{KAGGLE_CONFIG_HELP}") from None
        if not isinstance(config, dict):
            raise FetchError(
                f"{path}: holds a JSON {type(config).__name__}, not the object Kaggle's credentials file is.\n{KAGGLE_CONFIG_HELP}"
            )


KAGGLE_CONFIG_HELP = (
    'It must read {"username": "<user>", "key": "<key>"} (kaggle.com: Settings -> API -> "Create New Token" '
    "downloads it); fix or remove it, or use the variables KAGGLE_USERNAME and KAGGLE_KEY or KAGGLE_API_TOKEN instead."
)


def default_kaggle_client():
    from kaggle.api.kaggle_api_extended import KaggleApi  # noqa: PLC0415 - optional, only for a Kaggle download

    return authenticated(KaggleApi())


def authenticated(api):
    """``api`` (a ``KaggleApi``) once its credentials are checked; every way that fails is a
    :class:`FetchError`: the client's exit on bad credentials, no network (a token is checked
    online), or any other error of the client."""
    try:
        api.authenticate()
    except SystemExit:  # the kaggle package exits the process on bad credentials
        raise FetchError("Kaggle rejected the credentials.\n" + KAGGLE_HELP) from None
    except OSError as err:  # requests' ConnectionError and Timeout are OSErrors
        if environment_fault(err) is not None:
            raise  # a folder the client could not write: the command line names it
        raise FetchError(
            f"Kaggle could not be reached to check the credentials ({type(err).__name__}: {err}). Check the network "
            "connection (a KAGGLE_API_TOKEN is checked online), or import a local copy: python -m bench fetch --source PATH"
        ) from None
    except Exception as err:
        raise FetchError(f"Kaggle's client failed while reading the credentials ({type(err).__name__}: {err})") from None
    return api


def fetch_from_kaggle(
    data_dir: str | os.PathLike,
    competition: bool = False,
    client_factory: Callable[[], Any] | None = None,
    show_progress: bool = True,
    replace: bool = False,
) -> FetchResult:
    """Download the development set with the ``kaggle`` package, then import it (``replace``: see :func:`import_image_set`).
    ``client_factory``: makes the authenticated client (default: :func:`default_kaggle_client`)."""
    if not kaggle_credentials_present():
        raise FetchError(KAGGLE_HELP)
    check_kaggle_config()
    client_factory = client_factory or default_kaggle_client
    data_dir = Path(data_dir)
    prepare_parent(data_dir)
    what = KAGGLE_COMPETITION if competition else KAGGLE_DATASET
    with fetch_lock(data_dir), out_of_space_is_named(data_dir, Path(f"kaggle:{what}")):
        client = client_factory()
        with tempfile.TemporaryDirectory(prefix=f".{data_dir.name}.download-", dir=data_dir.parent) as tmp_name:
            tmp = Path(tmp_name)
            try:
                if competition:
                    client.competition_download_files(KAGGLE_COMPETITION, path=str(tmp), quiet=not show_progress)
                else:  # unzipped here, within the zip limits, not by the client
                    client.dataset_download_files(KAGGLE_DATASET, path=str(tmp), unzip=False, quiet=not show_progress)
            except Exception as err:
                raise FetchError(f"Kaggle download of {what} failed: {type(err).__name__}: {err}") from None
            archives = sorted(tmp.glob("*.zip"))
            for archive in archives:
                extract_zip(archive, tmp, name=archive.name)
                archive.unlink()
            label = (tmp, f"{archives[0].name}:" if len(archives) == 1 else f"the Kaggle download of {what}:")
            return _import(tmp, data_dir, show_progress, replace, label=label)
