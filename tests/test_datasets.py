"""Image sets: one loading path for fetched data and the embedded default."""

from __future__ import annotations

import numpy as np

from bench.datasets import embedded_image_set_dir, load_image_set, resize_image, resolve_data_dir
from bench.datasets.embedded import PHOTOS


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
