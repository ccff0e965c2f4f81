"""Fetch the NIPS-2017 development set (Kaggle or a local copy) into a verified folder.

Whatever the source, the images are validated and staged in a temporary folder beside
the target, a manifest with one sha256 per file is written, and only then is the folder
moved into place: a failed fetch leaves ``data_dir`` as it was. A set already there is
replaced by a different one only when asked (``replace=True``, ``--replace``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.errors import InputError
from common.files import file_sha256, replace_dir, write_json
from common.progress import progress

from .imageset import CSV_NAME, IMAGES_DIR, missing_reason, read_csv, read_png_rgb

KAGGLE_DATASET = "google-brain/nips-2017-adversarial-learning-development-set"
KAGGLE_COMPETITION = "nips-2017-non-targeted-adversarial-attack"
MANIFEST = "manifest.json"
NIPS_SIZE = (299, 299)
REQUIRED_COLUMNS = ["ImageId", "TrueLabel", "TargetClass", "License", "Author"]


class FetchError(RuntimeError):
    """A fetch or import that cannot proceed; the message says which file and why."""


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
    for image_id in progress(table["ImageId"], desc="validating images", disable=not show_progress):
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
    for path in (folder / CSV_NAME, folder / IMAGES_DIR):
        if os.path.lexists(path) and not path.exists():
            raise FetchError(f"{path} {missing_reason(path)}")
    raise FetchError(f"{folder}: no {CSV_NAME} with an {IMAGES_DIR}/ folder beside it")


# ---------------------------------------------------------------- manifest


def build_manifest(root: Path, show_progress: bool = True) -> dict:
    files = [root / CSV_NAME] + sorted((root / IMAGES_DIR).glob("*.png"))
    return {
        "format": "nips17-image-set/1",
        "files": {str(p.relative_to(root)): file_sha256(p) for p in progress(files, desc="hashing", disable=not show_progress)},
    }


def verify_manifest(data_dir: Path, show_progress: bool = True) -> dict:
    """Check every file in ``data_dir`` against its manifest; return the manifest."""
    path = data_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FetchError(f"{path}: missing or unreadable manifest ({err})") from None
    for rel, digest in progress(manifest["files"].items(), desc="verifying", disable=not show_progress):
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
    """
    source, data_dir = Path(source), Path(data_dir)
    if not source.exists():
        raise FetchError(f"{source} {missing_reason(source, 'file or folder')}")
    prepare_parent(data_dir)
    with tempfile.TemporaryDirectory(prefix=f".{data_dir.name}.staging-", dir=data_dir.parent) as staging:
        staging = Path(staging)
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise FetchError(f"{source}: not a folder or a zip archive")
            with zipfile.ZipFile(source) as archive:
                archive.extractall(staging / "unzipped")
            root = find_root(staging / "unzipped")
        else:
            root = find_root(source)
        table = validate_image_set(root, show_progress=show_progress)
        if table.empty:
            raise FetchError(f"{source}: an empty image set ({CSV_NAME} lists no images); nothing to import")
        incoming = build_manifest(root, show_progress=show_progress)
        if existing_copy(data_dir, incoming, source, replace, show_progress) == "verified":
            return FetchResult(data_dir, len(table), "verified")
        require_writable(data_dir)

        new = staging / "new"
        (new / IMAGES_DIR).mkdir(parents=True)
        shutil.copy2(root / CSV_NAME, new / CSV_NAME)
        for image_id in progress(table["ImageId"], desc="copying", disable=not show_progress):
            shutil.copy2(root / IMAGES_DIR / f"{image_id}.png", new / IMAGES_DIR / f"{image_id}.png")
        if build_manifest(new, show_progress=False)["files"] != incoming["files"]:
            raise FetchError(f"{source}: files changed while being imported; try again")
        write_json(new / MANIFEST, {**incoming, "source": str(source), "images": len(table)})
        status = "replaced" if data_dir.exists() else "imported"
        replace_dir(new, data_dir)
    return FetchResult(data_dir, len(table), status)


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


def kaggle_credentials_present(environ: dict | None = None, home: Path | None = None) -> bool:
    env = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    config_dirs = [Path(env["KAGGLE_CONFIG_DIR"])] if env.get("KAGGLE_CONFIG_DIR") else []
    config_dirs += [home / ".kaggle", home / ".config" / "kaggle"]
    return any((d / name).is_file() for d in config_dirs for name in ("kaggle.json", "access_token"))


def default_kaggle_client():
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    try:
        api.authenticate()
    except SystemExit:  # the kaggle package exits the process on bad credentials
        raise FetchError("Kaggle rejected the credentials.\n" + KAGGLE_HELP) from None
    return api


def fetch_from_kaggle(
    data_dir: str | os.PathLike,
    competition: bool = False,
    client_factory: Callable[[], object] = default_kaggle_client,
    show_progress: bool = True,
    replace: bool = False,
) -> FetchResult:
    """Download the development set with the ``kaggle`` package, then import it (``replace``: see :func:`import_image_set`)."""
    if not kaggle_credentials_present():
        raise FetchError(KAGGLE_HELP)
    data_dir = Path(data_dir)
    prepare_parent(data_dir)
    client = client_factory()
    with tempfile.TemporaryDirectory(prefix=f".{data_dir.name}.download-", dir=data_dir.parent) as tmp:
        tmp = Path(tmp)
        try:
            if competition:
                client.competition_download_files(KAGGLE_COMPETITION, path=str(tmp), quiet=not show_progress)
            else:
                client.dataset_download_files(KAGGLE_DATASET, path=str(tmp), unzip=True, quiet=not show_progress)
        except Exception as err:
            what = KAGGLE_COMPETITION if competition else KAGGLE_DATASET
            raise FetchError(f"Kaggle download of {what} failed: {type(err).__name__}: {err}") from None
        for archive in list(tmp.glob("*.zip")):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
            archive.unlink()
        return import_image_set(tmp, data_dir, show_progress=show_progress, replace=replace)
