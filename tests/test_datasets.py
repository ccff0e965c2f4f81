"""Image sets: one loading path for fetched data and the embedded default."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_fetch import make_set

from bench.datasets import embedded_image_set_dir, load_image_set, resize_image, resolve_data_dir
from bench.datasets.embedded import PHOTOS
from common.errors import DataFileMissing, InputError


def test_embedded_default_is_real_photos_through_the_same_loader(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no data/nips17 here
    folder, description = resolve_data_dir()
    assert folder == embedded_image_set_dir() and "embedded" in description
    images = load_image_set(folder, size=224)
    assert images.ids == [p[0] for p in PHOTOS]
    assert images.pixels.shape == (len(PHOTOS), 224, 224, 3) and images.pixels.dtype == np.uint8
    assert images.pixels.std() > 30  # natural photos, not blank
    assert dict(zip(images.ids, images.labels))["chelsea"] == 281  # tabby cat
    assert dict(zip(images.ids, images.labels))["astronaut"] == -1  # no fitting class
    assert all(images.licenses) and all(images.authors)


def test_resize_keeps_dtype_and_full_frame():
    img = np.zeros((299, 299, 3), np.uint8)
    img[:, :150] = 255  # left half white
    out = resize_image(img, 224)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    assert out[:, :100].min() == 255 and out[:, 130:].max() == 0  # no crop: the edge stays at the middle


def test_shared_sample_loads_with_subset_and_ids(shared_sample):
    full = load_image_set(shared_sample, size=224, limit=4)
    assert full.pixels.shape == (4, 224, 224, 3)
    again = load_image_set(shared_sample, size=224, ids=full.ids[::-1])
    np.testing.assert_array_equal(again.pixels, full.pixels[::-1])
    assert full.subset([1]).ids == [full.ids[1]]
    assert "creativecommons" in full.licenses[0] or full.licenses[0]


def test_attribution_names_author_and_short_licence(shared_sample):
    images = load_image_set(shared_sample, limit=1)
    line = images.attribution(0)
    assert line.startswith(images.ids[0]) and images.authors[0] in line
    assert "CC BY" in line and "https://" not in line


# ---------------------------------------------------------------- checks on every load


def with_ids(root, ids):
    """``make_set`` with its ImageIds replaced (the PNGs keep their names)."""
    make_set(root, n=len(ids))
    table = pd.read_csv(root / "images.csv", dtype=str, keep_default_na=False)
    table.assign(ImageId=ids).to_csv(root / "images.csv", index=False)
    return root


@pytest.mark.parametrize(
    "bad_id", ["../../x/ESCAPED", "sub/img", "/abs/img", "..", ".hidden", "a\\b", "img 1"], ids=lambda i: repr(i)
)
def test_ids_must_be_plain_file_stems(tmp_path, bad_id):
    folder = with_ids(tmp_path / "set", ["img0_000", bad_id, "img0_002"])
    with pytest.raises(InputError, match=re.escape(f"{folder / 'images.csv'}: ImageId {bad_id!r} is not a plain file name")):
        load_image_set(folder)


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda t: t.drop(columns=["ImageId"]), "the header has no column ImageId"),
        (lambda t: t.assign(ImageId=["img0_000", "", "img0_002"]), r"rows without an ImageId \(lines \[3\]\)"),
        (lambda t: t.assign(ImageId=["img0_000", "img0_000", "img0_002"]), r"duplicate ImageId \['img0_000'\]"),
        (
            lambda t: t.assign(TrueLabel=["1", "cat", "1001"]),
            r"TrueLabel must be an integer in 0..1000.*\['img0_001', 'img0_002'\]",
        ),
    ],
    ids=["no-id-column", "empty-id", "duplicate-id", "bad-label"],
)
def test_bad_table_is_refused_naming_the_csv(tmp_path, damage, expected):
    folder = make_set(tmp_path / "set")
    damage(pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False)).to_csv(folder / "images.csv", index=False)
    with pytest.raises(InputError, match=re.escape(str(folder / "images.csv")) + ".*" + expected):
        load_image_set(folder)


def test_unlabelled_rows_load(tmp_path):
    folder = make_set(tmp_path / "set")
    pd.read_csv(folder / "images.csv").assign(TrueLabel=[0, 5, 1000]).to_csv(folder / "images.csv", index=False)
    assert list(load_image_set(folder).labels) == [-1, 4, 999]


def test_empty_set_and_bad_limit_are_refused(tmp_path):
    folder = make_set(tmp_path / "set")
    for limit in (0, -1):
        with pytest.raises(InputError, match=rf"limit must be at least 1 .*, got {limit}"):
            load_image_set(folder, limit=limit)
    pd.read_csv(folder / "images.csv").iloc[:0].to_csv(folder / "images.csv", index=False)
    with pytest.raises(InputError, match=r"images\.csv: lists no images"):
        load_image_set(folder)


def test_symlink_loops_are_named(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(DataFileMissing, match=re.escape(f"--data-dir {loop} is a symlink loop")):
        resolve_data_dir(loop)
    folder = make_set(tmp_path / "set")
    png = folder / "images" / "img0_001.png"
    png.unlink()
    png.symlink_to(png)
    with pytest.raises(DataFileMissing, match=re.escape(f"{png} is a symlink loop")):
        load_image_set(folder)
    csv = folder / "images.csv"
    csv.unlink()
    csv.symlink_to(csv)
    with pytest.raises(DataFileMissing, match=re.escape(f"{csv} is a symlink loop")):
        resolve_data_dir(folder)
    with pytest.raises(DataFileMissing, match=re.escape(f"{csv} is a symlink loop")):
        load_image_set(folder)
