"""The NIPS-2017 fetcher: validation, idempotence, atomicity, and the Kaggle boundary."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.cli import main
from bench.datasets import load_image_set
from bench.datasets.fetch import (
    KAGGLE_DATASET,
    FetchError,
    FetchRefused,
    fetch_from_kaggle,
    import_image_set,
    kaggle_credentials_present,
)
from bench.datasets.imageset import CSV_COLUMNS


def make_set(root: Path, n: int = 3, size: int = 299, seed: int = 0) -> Path:
    """A synthetic image set in the NIPS-2017 layout."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        image_id = f"img{seed}_{i:03d}"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / "images" / f"{image_id}.png")
        row = dict.fromkeys(CSV_COLUMNS, "")
        row.update(ImageId=image_id, TrueLabel=1 + i, TargetClass=500, License="CC BY 2.0", Author=f"author {i}")
        rows.append(row)
    pd.DataFrame(rows, columns=CSV_COLUMNS).to_csv(root / "images.csv", index=False)
    return root


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_import_then_verify(tmp_path):
    src = make_set(tmp_path / "src")
    dest = tmp_path / "data" / "nips17"
    first = import_image_set(src, dest, show_progress=False)
    assert (first.status, first.images) == ("imported", 3)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert len(manifest["files"]) == 4  # csv + 3 images
    before = snapshot(dest)
    second = import_image_set(src, dest, show_progress=False)
    assert second.status == "verified"
    assert snapshot(dest) == before  # nothing rewritten
    loaded = load_image_set(dest)
    assert loaded.pixels.shape == (3, 299, 299, 3)
    assert list(loaded.labels) == [0, 1, 2]  # ImageNet index = TrueLabel - 1


@pytest.mark.parametrize(
    "damage, expected",
    [
        (
            lambda s: (s / "images" / "img0_001.png").write_bytes((s / "images" / "img0_001.png").read_bytes()[:500]),
            "img0_001.png",
        ),
        (lambda s: (s / "images" / "img0_002.png").unlink(), "img0_002"),
        (lambda s: Image.new("RGB", (64, 64)).save(s / "images" / "img0_000.png"), "img0_000.png"),
        (lambda s: Image.new("L", (299, 299)).save(s / "images" / "img0_000.png"), "mode L"),
        (lambda s: Image.new("RGB", (299, 299)).save(s / "images" / "stray.png"), "stray.png"),
        (
            lambda s: pd.read_csv(s / "images.csv").assign(TrueLabel=[1, 1001, 2]).to_csv(s / "images.csv", index=False),
            "TrueLabel",
        ),
    ],
    ids=["truncated", "missing", "wrong-size", "grayscale", "no-csv-row", "label-range"],
)
def test_bad_input_is_refused_and_data_dir_untouched(tmp_path, damage, expected):
    dest = tmp_path / "nips17"
    import_image_set(make_set(tmp_path / "good", seed=1), dest, show_progress=False)
    before = snapshot(dest)
    bad = make_set(tmp_path / "bad")
    damage(bad)
    with pytest.raises(FetchError, match=expected):
        import_image_set(bad, dest, show_progress=False)
    assert snapshot(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "good", "nips17"]  # no staging left


def test_refused_into_fresh_dir_writes_nothing(tmp_path):
    bad = make_set(tmp_path / "bad")
    (bad / "images" / "img0_000.png").write_bytes(b"not a png")
    assert main(["fetch", "--source", str(bad), "--data-dir", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_zip_source_and_replacement(tmp_path):
    src = make_set(tmp_path / "src", seed=2)
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in src.rglob("*"):
            zf.write(p, Path("nips") / p.relative_to(src))  # nested one level, as Kaggle zips are
    dest = tmp_path / "nips17"
    import_image_set(make_set(tmp_path / "older", seed=3), dest, show_progress=False)
    result = import_image_set(archive, dest, show_progress=False, replace=True)
    assert result.status == "replaced"
    assert load_image_set(dest).ids == [f"img2_{i:03d}" for i in range(3)]


def test_different_set_is_replaced_only_when_asked(tmp_path, capsys):
    dest = tmp_path / "nips17"
    import_image_set(make_set(tmp_path / "good", seed=1), dest, show_progress=False)
    before = snapshot(dest)
    other = make_set(tmp_path / "other", n=2, seed=2)
    with pytest.raises(FetchRefused, match="--replace"):
        import_image_set(other, dest, show_progress=False)
    assert main(["fetch", "--source", str(other), "--data-dir", str(dest)]) == 2
    err = capsys.readouterr().err
    assert str(dest) in err and "--replace" in err
    assert snapshot(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "nips17", "other"]  # no staging left
    assert main(["fetch", "--source", str(other), "--data-dir", str(dest), "--replace"]) == 0
    assert load_image_set(dest).ids == ["img2_000", "img2_001"]


def empty_set(root: Path) -> Path:
    """A header-only images.csv and an empty images/ folder."""
    (root / "images").mkdir(parents=True)
    (root / "images.csv").write_text(",".join(CSV_COLUMNS) + "\n")
    return root


@pytest.mark.parametrize("replace", [False, True])
def test_empty_set_is_always_refused(tmp_path, replace):
    dest = tmp_path / "nips17"
    import_image_set(make_set(tmp_path / "good"), dest, show_progress=False)
    before = snapshot(dest)
    empty = empty_set(tmp_path / "empty")
    with pytest.raises(FetchError, match=re.escape(f"{empty}: an empty image set")):
        import_image_set(empty, dest, show_progress=False, replace=replace)
    assert snapshot(dest) == before
    with pytest.raises(FetchError, match="empty image set"):
        import_image_set(empty, tmp_path / "fresh", show_progress=False)
    assert not (tmp_path / "fresh").exists()


def test_source_symlink_loop_is_named(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(FetchError, match=re.escape(f"{loop} is a symlink loop")):
        import_image_set(loop, tmp_path / "out", show_progress=False)
    src = make_set(tmp_path / "src")
    (src / "images.csv").unlink()
    (src / "images.csv").symlink_to(src / "images.csv")
    with pytest.raises(FetchError, match=r"images\.csv is a symlink loop"):
        import_image_set(src, tmp_path / "out", show_progress=False)


def fetch_without_override(args: list[str]) -> subprocess.CompletedProcess:
    """``python -m bench fetch ARGS`` as a process that file permissions bind: as root, with the
    capabilities that override them dropped (setpriv); skips where that is not possible."""
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file permissions cannot be enforced")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    cmd = [*prefix, sys.executable, "-m", "bench", "fetch", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)


def test_read_only_data_folder_is_named_and_left_alone(tmp_path):
    dest = tmp_path / "nips17"
    import_image_set(make_set(tmp_path / "good", seed=1), dest, show_progress=False)
    other = make_set(tmp_path / "other", n=2, seed=2)
    before = snapshot(dest)
    modes = {p: p.stat().st_mode for p in [dest, dest / "images"]}
    for folder in modes:
        folder.chmod(0o555)
    try:
        done = fetch_without_override(["--source", str(other), "--data-dir", str(dest), "--replace"])
        verified = fetch_without_override(["--source", str(tmp_path / "good"), "--data-dir", str(dest)])
    finally:
        for folder, mode in modes.items():
            folder.chmod(mode)
    assert done.returncode == 2, done.stderr
    assert "read-only" in done.stderr and str(dest) in done.stderr
    assert snapshot(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "nips17", "other"]  # no backup or staging left
    assert verified.returncode == 0 and "verified" in verified.stdout  # reading a read-only copy still works


def test_read_only_parent_is_named(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        done = fetch_without_override(["--source", str(make_set(tmp_path / "src")), "--data-dir", str(parent / "nips17")])
    finally:
        parent.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert f"{parent}: read-only" in done.stderr and "Traceback" not in done.stderr
    assert list(parent.iterdir()) == []


def test_foreign_folder_is_not_overwritten(tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    with pytest.raises(FetchError, match="not made by fetch"):
        import_image_set(make_set(tmp_path / "src"), dest, show_progress=False)
    assert (dest / "notes.txt").read_text() == "keep me"


def test_damaged_copy_is_repaired(tmp_path):
    src = make_set(tmp_path / "src")
    dest = tmp_path / "nips17"
    import_image_set(src, dest, show_progress=False)
    (dest / "images" / "img0_000.png").write_bytes(b"corrupted")
    assert import_image_set(src, dest, show_progress=False).status == "replaced"
    assert load_image_set(dest).pixels.shape[0] == 3


# ---------------------------------------------------------------- Kaggle boundary


@pytest.fixture
def no_kaggle_env(monkeypatch, tmp_path):
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_missing_credentials_clear_error_nothing_written(no_kaggle_env, capsys):
    dest = no_kaggle_env / "out"
    assert not kaggle_credentials_present()
    assert main(["fetch", "--data-dir", str(dest)]) == 2
    err = capsys.readouterr().err
    assert "kaggle.json" in err and "Create New Token" in err and "KAGGLE_USERNAME" in err
    assert not dest.exists()


def test_credentials_file_is_found(no_kaggle_env):
    cfg = no_kaggle_env / "home" / ".kaggle"
    cfg.mkdir(parents=True)
    (cfg / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert kaggle_credentials_present()


class FakeKaggle:
    """Stands in for KaggleApi: 'downloads' a zip of a synthetic set."""

    def __init__(self, source: Path):
        self.source, self.calls = source, []

    def dataset_download_files(self, dataset, path, unzip, quiet):
        self.calls.append(dataset)
        with zipfile.ZipFile(Path(path) / "dev.zip", "w") as zf:
            for p in self.source.rglob("*"):
                zf.write(p, p.relative_to(self.source))


def test_kaggle_download_goes_through_import(no_kaggle_env, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    fake = FakeKaggle(make_set(no_kaggle_env / "remote", n=2))
    result = fetch_from_kaggle(no_kaggle_env / "nips17", client_factory=lambda: fake, show_progress=False)
    assert fake.calls == [KAGGLE_DATASET]
    assert (result.status, result.images) == ("imported", 2)
    assert (no_kaggle_env / "nips17" / "manifest.json").is_file()


def test_kaggle_failure_names_dataset(no_kaggle_env, monkeypatch):
    monkeypatch.setenv("KAGGLE_API_TOKEN", "t")

    class Broken:
        def dataset_download_files(self, *a, **k):
            raise ConnectionError("no route to host")

    with pytest.raises(FetchError, match=r"nips-2017-adversarial-learning-development-set.*no route"):
        fetch_from_kaggle(no_kaggle_env / "nips17", client_factory=Broken, show_progress=False)
    assert not (no_kaggle_env / "nips17").exists()


def test_shared_sample_imports(shared_sample, tmp_path):
    dest = tmp_path / "X"
    assert import_image_set(shared_sample, dest, show_progress=False).images == 100
    assert import_image_set(shared_sample, dest, show_progress=False).status == "verified"
