"""Fetch the NIPS-2017 development set (Kaggle or a local copy) into a verified folder.

Whatever the source, the images are validated and staged in a temporary folder beside
the target, a manifest with one sha256 per file is written, and only then is the folder
moved into place: a failed fetch leaves ``data_dir`` as it was.
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
from PIL import Image

from common.files import file_sha256, replace_dir, write_json
from common.progress import progress

from .imageset import CSV_NAME, IMAGES_DIR, read_csv

KAGGLE_DATASET = "google-brain/nips-2017-adversarial-learning-development-set"
KAGGLE_COMPETITION = "nips-2017-non-targeted-adversarial-attack"
MANIFEST = "manifest.json"
NIPS_SIZE = (299, 299)
REQUIRED_COLUMNS = ["ImageId", "TrueLabel", "TargetClass", "License", "Author"]


class FetchError(RuntimeError):
    """A fetch or import that cannot proceed; the message says which file and why."""


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
        table = read_csv(root)
    except FileNotFoundError as err:
        raise FetchError(str(err)) from None
    except Exception as err:
        raise FetchError(f"{csv_path}: unreadable CSV ({err})") from None
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing_cols:
        raise FetchError(f"{csv_path}: missing columns {missing_cols}")
    dup = table["ImageId"][table["ImageId"].duplicated()].tolist()
    if dup:
        raise FetchError(f"{csv_path}: duplicate ImageId {dup[:5]}")
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
        with Image.open(path) as img:
            img.load()
            mode, size = img.mode, img.size[::-1]
    except Exception as err:
        raise FetchError(f"{path}: not a readable PNG image ({type(err).__name__}: {err})") from None
    if mode != "RGB":
        raise FetchError(f"{path}: expected an RGB image, got mode {mode}")
    if expected_size is not None and size != tuple(expected_size):
        raise FetchError(f"{path}: expected {expected_size[0]}x{expected_size[1]} pixels, got {size[0]}x{size[1]}")


def find_root(folder: Path) -> Path:
    """The folder holding images.csv and images/ (the source itself or one level down)."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / CSV_NAME).is_file() and (candidate / IMAGES_DIR).is_dir():
            return candidate
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


def import_image_set(source: str | os.PathLike, data_dir: str | os.PathLike, show_progress: bool = True) -> FetchResult:
    """Import a local copy (a folder or a .zip in the NIPS-2017 layout) into ``data_dir``."""
    source, data_dir = Path(source), Path(data_dir)
    if not source.exists():
        raise FetchError(f"{source}: no such file or folder")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
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
        incoming = build_manifest(root, show_progress=show_progress)

        if data_dir.exists():
            if (data_dir / MANIFEST).is_file():
                try:
                    current = verify_manifest(data_dir, show_progress=show_progress)
                except FetchError:
                    current = None  # damaged: replace it with the validated copy
                if current is not None and current["files"] == incoming["files"]:
                    return FetchResult(data_dir, len(table), "verified")
            elif any(data_dir.iterdir()):
                raise FetchError(
                    f"{data_dir}: exists, is not empty and holds no {MANIFEST}; it was not made by fetch. "
                    "Remove it or choose another --data-dir."
                )

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
) -> FetchResult:
    """Download the development set with the ``kaggle`` package, then import it."""
    if not kaggle_credentials_present():
        raise FetchError(KAGGLE_HELP)
    data_dir = Path(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
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
        return import_image_set(tmp, data_dir, show_progress=show_progress)
