"""Fault injection on the data input (issue 23: cases 1, 2, 8, 9, 10), in the shared pieces: the
loader (``bench.datasets.load_image_set``) and the fetcher (``bench.datasets.fetch``).

For each fault: exit code 2 with a message naming the file (or zip member, or lock holder), and
nothing written or changed. Inputs are generated in tmp_path; the 20,000-row folder is a slow test.
"""

from __future__ import annotations

import errno
import io
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_faults_inputs import tree_sha256
from test_fetch import make_set

from bench.cli import main
from bench.datasets import fetch, imageset, load_image_set, load_images
from bench.datasets.fetch import FetchError, import_image_set
from bench.datasets.imageset import MAX_ID_LENGTH, DataFileError
from bench.run.planning import select_ids
from bench.run.profile import apply_overrides, load_profile
from bench.run.runner import prepare_run, run_benchmark
from common.errors import FolderBusyError, InputError

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def no_hang(seconds: int = 60):
    """Fail (instead of hanging the suite) when the block blocks, as an open() of a FIFO does."""

    def fail(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def linked_set(root: Path, n: int, size: int = 32) -> Path:
    """A set of ``n`` rows whose images are hard links to one PNG (cheap for thousands of rows)."""
    make_set(root, n=1, size=size)
    one = root / "images" / "img0_000.png"
    table = pd.read_csv(root / "images.csv", dtype=str, keep_default_na=False)
    rows = pd.concat([table] * n, ignore_index=True)
    rows["ImageId"] = [f"img{i:06d}" for i in range(n)]
    rows["TrueLabel"] = [str(1 + i % 1000) for i in range(n)]
    for image_id in rows["ImageId"]:
        os.link(one, root / "images" / f"{image_id}.png")
    one.unlink()
    rows.to_csv(root / "images.csv", index=False)
    return root


@pytest.fixture
def decoded(monkeypatch):
    """The PNGs the loader opens, in order."""
    opened: list[str] = []
    read = imageset.read_png_rgb

    def counting(path):
        opened.append(Path(path).stem)
        return read(path)

    monkeypatch.setattr(imageset, "read_png_rgb", counting)
    return opened


def explain(data: Path, out: Path, *extra: str) -> int:
    return main(["explain", "--model", "tiny", "--methods", "sensitivity", "--data-dir", str(data), "--out", str(out), *extra])


def smoke(**run):
    return apply_overrides(load_profile("smoke"), None, methods=["sensitivity"], **run)


# ---------------------------------------------------------------- 1. only the images used are read


@pytest.mark.parametrize("selection", ["first", "random"])
def test_run_decodes_only_its_images(selection, tmp_path, decoded):
    """2 of 2,000 rows: 2 PNGs decoded, and the same 2 the old whole-set selection picked."""
    data = linked_set(tmp_path / "data", 2000)
    prepared = prepare_run(smoke(images=2, selection=selection, seed=7), data)
    ids = [f"img{i:06d}" for i in range(2000)]
    old = ids[:2] if selection == "first" else [ids[k] for k in np.sort(np.random.default_rng(7).choice(2000, 2, replace=False))]
    assert prepared.work.images.ids == old == decoded


def test_selection_is_the_old_one():
    """select_ids draws what select_images drew over the decoded set (runs pin these images)."""
    ids = [f"i{k}" for k in range(100)]
    for seed in range(5):
        for count in (1, 7, 99, 100, 150):
            index = np.sort(np.random.default_rng(seed).choice(100, size=count, replace=False)) if count < 100 else range(100)
            assert select_ids(ids, count, "random", seed) == [ids[k] for k in index]
        assert select_ids(ids, 3, "first", seed) == ids[:3]


def test_bad_images_beyond_the_limit_do_not_matter(tmp_path, capsys):
    """A truncated PNG and a FIFO after the first 2 rows: a --limit 2 run, predict and explain succeed."""
    data = make_set(tmp_path / "data", n=5, size=32)
    (data / "images" / "img0_003.png").write_bytes(b"not a png")
    (data / "images" / "img0_004.png").unlink()
    os.mkfifo(data / "images" / "img0_004.png")
    with no_hang():
        run_benchmark(smoke(images=2), tmp_path / "run", data_dir=data, log=lambda s: None)
        assert explain(data, tmp_path / "x", "--limit", "2") == 0
        images, _, _ = load_images(data, (32, 32), limit=2)
    assert images.ids == ["img0_000", "img0_001"]
    # a bad row anywhere is still refused: the table is checked whole (cheaply), naming its line
    table = pd.read_csv(data / "images.csv", dtype=str, keep_default_na=False)
    table.loc[4, "ImageId"] = "../x"
    table.to_csv(data / "images.csv", index=False)
    with pytest.raises(InputError, match=r"ImageId '\.\./x' is not a plain file name.*the first on line 6"):
        load_images(data, (32, 32), limit=2)


def test_csv_bounds(tmp_path, monkeypatch):
    data = make_set(tmp_path / "data", n=5, size=32)
    monkeypatch.setattr(imageset, "MAX_ROWS", 4)
    with pytest.raises(DataFileError, match=r"images\.csv: more than 4 rows"):
        load_image_set(data, limit=1)
    monkeypatch.setattr(imageset, "MAX_CSV_BYTES", 100)
    with pytest.raises(DataFileError, match=r"images\.csv: \d+ bytes; an image set's table may be at most 100 bytes"):
        load_image_set(data, limit=1)


@pytest.mark.slow
def test_twenty_thousand_rows_run_like_two(tmp_path, decoded):
    """The issue's measurement, in process: 20,000 rows prepare within a few seconds of 2 rows."""
    seconds = {}
    for n in (2, 20_000):
        data = linked_set(tmp_path / f"rows{n}", n, size=299)
        prepare_run(smoke(images=2), data)  # warm (model build, imports)
        t0 = time.perf_counter()
        prepare_run(smoke(images=2), data)
        seconds[n] = time.perf_counter() - t0
    assert decoded == ["img000000", "img000001"] * 4
    assert seconds[20_000] < seconds[2] + 5, seconds


# ---------------------------------------------------------------- 2. one fetch at a time


def test_second_fetch_is_refused_naming_the_holder(tmp_path, capsys):
    dest = tmp_path / "nips17"
    src = make_set(tmp_path / "src")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from bench.datasets.fetch import fetch_lock; from pathlib import Path\nwith fetch_lock(Path({str(dest)!r})):\n    print('held', flush=True); input()",
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["fetch", "--source", str(src), "--data-dir", str(dest)]) == 2
    finally:
        holder.communicate("\n", timeout=60)
    err = capsys.readouterr().err
    assert f"{dest} is in use by another process (pid {holder.pid} on host" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # nothing staged, the holder's lock file gone
    assert main(["fetch", "--source", str(src), "--data-dir", str(dest)]) == 0  # free again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nips17", "src"]


def test_fetch_holds_the_lock_for_its_whole_duration(tmp_path, monkeypatch):
    """While a fetch validates (here: the moment it checks an image), a second fetch is refused."""
    dest = tmp_path / "nips17"
    first, second = make_set(tmp_path / "a", seed=1), make_set(tmp_path / "b", seed=2)
    refused = []
    check = fetch.check_png

    def meanwhile(path, expected_size):
        if not refused:
            with pytest.raises(FolderBusyError, match=f"{dest} is in use by another process") as err:
                import_image_set(second, dest, show_progress=False)
            refused.append(str(err.value))
        return check(path, expected_size)

    monkeypatch.setattr(fetch, "check_png", meanwhile)
    assert import_image_set(first, dest, show_progress=False).status == "imported"
    assert refused and load_image_set(dest).ids == [f"img1_{i:03d}" for i in range(3)]


# ---------------------------------------------------------------- 8. ids bounded so every file fits


@pytest.mark.parametrize("length", [MAX_ID_LENGTH + 1, 245, 300])
def test_overlong_id_is_refused_at_load_and_fetch(length, tmp_path, capsys):
    data = make_set(tmp_path / "data", n=2, size=32)
    long_id = "a" * length
    if length + 4 <= 255:  # else no such file can exist: the table is refused first anyway
        os.replace(data / "images" / "img0_001.png", data / "images" / f"{long_id}.png")
    table = pd.read_csv(data / "images.csv", dtype=str, keep_default_na=False).assign(ImageId=["img0_000", long_id])
    table.to_csv(data / "images.csv", index=False)
    before = tree_sha256(tmp_path)
    reason = f"ImageId '{'a' * 40}'... is {length} characters; at most {MAX_ID_LENGTH}"
    assert explain(data, tmp_path / "x") == 2
    assert reason in capsys.readouterr().err
    assert main(["fetch", "--source", str(data), "--data-dir", str(tmp_path / "nips17")]) == 2
    assert reason in capsys.readouterr().err
    assert tree_sha256(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_longest_id_runs_to_the_end(tmp_path):
    """A MAX_ID_LENGTH id fits every file a run writes (maps, records, temporaries)."""
    data = make_set(tmp_path / "data", n=1, size=32)
    long_id = "b" * MAX_ID_LENGTH
    os.replace(data / "images" / "img0_000.png", data / "images" / f"{long_id}.png")
    pd.read_csv(data / "images.csv", dtype=str, keep_default_na=False).assign(ImageId=[long_id]).to_csv(
        data / "images.csv", index=False
    )
    out = run_benchmark(smoke(images=1), tmp_path / "run", data_dir=data, log=lambda s: None)
    assert (out / "records" / "sensitivity" / f"{long_id}.npz").is_file()
    assert (out / "maps" / "sensitivity" / f"{long_id}.npy").is_file()


# ---------------------------------------------------------------- 9. zip limits, members named, disk full


def zip_of(folder: Path, archive: Path, extra: dict | None = None) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, Path("nips") / p.relative_to(folder))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return archive


ZIP_FAULTS = {
    "bomb": ({"nips/images/bomb.png": b"\0" * (3 << 20)}, {}, "set.zip:nips/images/bomb.png: expands"),
    "dot-dot": ({"nips/../../evil.png": b"x"}, {}, "set.zip:nips/../../evil.png: an absolute path or one with '..'"),
    "absolute": ({"/tmp/evil.png": b"x"}, {}, "set.zip:/tmp/evil.png: an absolute path"),
    "members": ({}, {"ZIP_MAX_MEMBERS": 3}, "set.zip: 5 members; fetch extracts at most 3"),
    "total": ({}, {"ZIP_MAX_BYTES": 5_000}, "the archive expands to more than 5,000 bytes"),
}


@pytest.mark.parametrize("fault", ZIP_FAULTS)
def test_zip_limits_refuse_before_writing(fault, tmp_path, monkeypatch, capsys):
    extra, limits, reason = ZIP_FAULTS[fault]
    for name, value in limits.items():
        monkeypatch.setattr(fetch, name, value)
    archive = zip_of(make_set(tmp_path / "src", n=3, size=32), tmp_path / "set.zip", extra)
    dest = tmp_path / "data" / "nips17"
    written = []
    monkeypatch.setattr(fetch, "_extract_member", lambda *a: written.append(a[1].filename) or 0)
    assert main(["fetch", "--source", str(archive), "--data-dir", str(dest)]) == 2
    assert reason in capsys.readouterr().err
    assert written == [] and list((tmp_path / "data").iterdir()) == []


def test_zip_errors_name_the_member(tmp_path, capsys):
    src = make_set(tmp_path / "src", n=3, size=299)
    (src / "images" / "img0_001.png").write_bytes(b"\x89PNG truncated")
    archive = zip_of(src, tmp_path / "set.zip")
    assert main(["fetch", "--source", str(archive), "--data-dir", str(tmp_path / "data" / "nips17")]) == 2
    err = capsys.readouterr().err
    assert f"{archive}:nips/images/img0_001.png: not a readable PNG image" in err and "staging" not in err
    assert list((tmp_path / "data").iterdir()) == []


class FullDisk(io.RawIOBase):
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, room: list[int]):
        self.room = room

    def writable(self):
        return True

    def write(self, data):
        self.room[0] -= len(data)
        if self.room[0] < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return len(data)


@pytest.mark.parametrize("source", ["zip", "folder"])
def test_disk_full_is_named_and_leaves_nothing(source, tmp_path, monkeypatch, capsys):
    src = make_set(tmp_path / "src", n=3, size=299)
    dest = tmp_path / "data" / "nips17"
    import_image_set(make_set(tmp_path / "old", seed=4, size=299), dest, show_progress=False)
    before = tree_sha256(dest)
    if source == "zip":
        src = zip_of(src, tmp_path / "set.zip")
        room = [400_000]  # the first PNG fits, the second fills the disk
        monkeypatch.setattr(fetch, "open", lambda path, mode: FullDisk(room), raising=False)
    else:
        copies = []

        def copy2(a, b):
            copies.append(a)
            if len(copies) == 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(b))
            return fetch.shutil.copyfile(a, b)

        monkeypatch.setattr(fetch.shutil, "copy2", copy2)
    assert main(["fetch", "--source", str(src), "--data-dir", str(dest), "--replace"]) == 2
    err = capsys.readouterr().err
    assert f"{dest.parent}: no space left on the device" in err and "Traceback" not in err
    assert tree_sha256(dest) == before and sorted(p.name for p in dest.parent.iterdir()) == ["nips17"]


# ---------------------------------------------------------------- 10. FIFOs and other non-regular files


def fifo_at(path: Path) -> None:
    if path.exists():
        path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize("where", ["images/img0_001.png", "images.csv"])
def test_fifo_is_refused_without_opening(where, tmp_path, capsys):
    data = make_set(tmp_path / "data", n=3, size=299)
    fifo_at(data / where)
    before = tree_sha256(tmp_path)
    kind = "is a named pipe (FIFO), not a regular file"
    with no_hang():
        assert explain(data, tmp_path / "x") == 2
        assert str(data / where) in capsys.readouterr().err
        with pytest.raises(InputError, match=re.escape(f"{data / where}: {kind}") if where != "images.csv" else "is not a file"):
            prepare_run(smoke(images=3), data)
        assert main(["fetch", "--source", str(data), "--data-dir", str(tmp_path / "nips17")]) == 2
    err = capsys.readouterr().err
    assert f"{data / where}: {kind}" in err
    assert tree_sha256(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_folder_as_image_and_fifo_as_source(tmp_path, capsys):
    data = make_set(tmp_path / "data", n=2, size=32)
    (data / "images" / "img0_001.png").unlink()
    (data / "images" / "img0_001.png").mkdir()
    with pytest.raises(DataFileError, match=r"img0_001\.png: is a folder, not a regular file"):
        load_image_set(data)
    fifo_at(tmp_path / "set.zip")
    with no_hang():
        with pytest.raises(FetchError, match=r"set\.zip: is a named pipe \(FIFO\)"):
            import_image_set(tmp_path / "set.zip", tmp_path / "nips17", show_progress=False)
        # a stray FIFO in images/ (no row) is named without being opened
        fifo_at(data / "images" / "stray.png")
        with pytest.raises(FetchError, match=r"stray\.png: image has no row"):
            import_image_set(data, tmp_path / "nips17", show_progress=False)


def test_hashing_and_copying_refuse_a_swapped_in_fifo(tmp_path, monkeypatch):
    """A file made a FIFO after validation (a race) is refused by the hashing, not opened."""
    data = make_set(tmp_path / "data", n=2, size=299)
    validate = fetch.validate_image_set

    def then_swap(root, **kw):
        table = validate(root, **kw)
        fifo_at(root / "images" / "img0_001.png")
        return table

    monkeypatch.setattr(fetch, "validate_image_set", then_swap)
    with no_hang(), pytest.raises(FetchError, match=r"img0_001\.png: is a named pipe"):
        import_image_set(data, tmp_path / "nips17", show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
