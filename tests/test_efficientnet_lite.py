"""EfficientNet-Lite0/Lite2: checkpoint reader, Keras port, reference logits, weight cache."""

from __future__ import annotations

import pickle
import zipfile
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from bench.datasets import load_image_set
from models import MODELS, WeightsUnavailable, get_model
from models import efficientnet_lite as lite
from models.keras_api import keras
from models.torch_checkpoint import load_checkpoint, load_state_dict

LITE0_TENSORS = 296  # 247 weights/BN statistics + 49 BN num_batches_tracked counters
LITE0_PARAMS = 4_652_008
LITE2_TENSORS = 386
LITE2_PARAMS = 6_092_072
# Keras vs PyTorch logits on the 100 sample images: measured max abs diff 1.24e-5
# (logits span about -4..11); the CSV rounds to 1e-6. The margin covers other CPUs' kernels.
LOGIT_TOL = 1e-3


def trainable(state: dict) -> int:
    return sum(v.size for k, v in state.items() if k.endswith((".weight", ".bias")))


def lite_checkpoint(variant: str):
    path = lite.locate_weights(variant)
    if path is None:
        pytest.skip(f"{lite.VARIANTS[variant].package} not installed")
    return path


@pytest.fixture(scope="module")
def lite0():
    lite_checkpoint("efficientnet_lite0")
    return get_model("efficientnet_lite0")


# ---------------------------------------------------------------- (a) checkpoint reader


def test_reader_lite0_counts():
    state = load_state_dict(lite_checkpoint("efficientnet_lite0"))
    assert len(state) == LITE0_TENSORS
    assert trainable(state) == LITE0_PARAMS
    assert list(state)[:2] == ["_conv_stem.weight", "_bn0.weight"]  # file order kept
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_conv_stem.weight"].dtype == np.float32
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.num_batches_tracked"].shape == () and state["_bn0.num_batches_tracked"].dtype == np.int64


def test_reader_refuses_foreign_globals(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(Counter(a=1), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"collections\.Counter"):
        load_checkpoint(path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_checkpoint(junk)


# ---------------------------------------------------------------- the Keras model


def test_lite0_architecture(lite0):
    km = lite0.keras_model
    assert lite0.input_size == (224, 224) and lite0.num_classes == 1000
    assert lite0.preprocessing == "(x - 127) / 128"
    np.testing.assert_allclose(lite0.input_space_zeros(), 127.0)
    assert sum(w.shape.num_elements() for w in km.trainable_weights) == LITE0_PARAMS
    names = lite0.layer_names
    assert len(set(names)) == len(names)
    for name in [
        "stem_conv",
        "stem_bn",
        "stem_relu",
        "block1a_dwconv",
        "block3b_dwconv",
        "block3b_add",
        "block7a_project_bn",
        "head_conv",
        "head_relu",
        "avg_pool",
        "logits",
    ]:
        assert name in names
    assert len([n for n in names if n.endswith("_dwconv")]) == 16
    relus = [layer for layer in km.layers if isinstance(layer, keras.layers.ReLU)]
    assert len(relus) == 33 and all(float(layer.max_value) == 6.0 for layer in relus)
    for layer in km.layers:  # no fused nonlinearity anywhere, no softmax on the logits
        act = getattr(layer, "activation", None)
        assert act is None or act.__name__ == "linear", layer.name
        assert not isinstance(layer, keras.layers.Dropout)
    assert lite0.weights_sha256 and lite0.weights.endswith(".pth")


def test_registry_and_missing_weights(tmp_path):
    assert MODELS["efficientnet_lite0"].input_size == 224 and MODELS["efficientnet_lite2"].input_size == 260
    assert MODELS["efficientnet_lite0"].weights_status().startswith("available")
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        get_model("efficientnet_lite0", weights=tmp_path / "nope.pth")


# ---------------------------------------------------------------- (b) reference logits


@pytest.mark.shared_data
def test_lite0_matches_pytorch_reference(lite0, shared_sample):
    ref = pd.read_csv(lite.REFERENCE_CSV, dtype={"image_id": str})
    images = load_image_set(shared_sample, size=224, ids=list(ref["image_id"]))
    logits = lite0.logits(images.pixels)
    top = np.stack([ref[f"top{k}"] for k in range(1, 6)], axis=1)
    expected = np.stack([ref[f"logit{k}"] for k in range(1, 6)], axis=1)
    got = np.take_along_axis(logits, top, axis=1)
    assert np.abs(got - expected).max() < LOGIT_TOL
    assert (logits.argmax(axis=1) == ref["top1"].to_numpy()).all()  # top-1 agreement 100%
    assert (ref["true_label"].to_numpy() == images.labels).all()
    assert (ref["top1"] == ref["true_label"]).sum() == 91
    assert all(label in row for label, row in zip(images.labels, top))  # top-5: 100/100


# ---------------------------------------------------------------- (d) conversion cache


def test_conversion_cache(tmp_path, monkeypatch):
    checkpoint = lite_checkpoint("efficientnet_lite0")
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    sha = lite.file_sha256(checkpoint)
    cache = lite.cache_path("efficientnet_lite0", sha)
    reads = []
    real_reader = lite.load_state_dict
    monkeypatch.setattr(lite, "load_state_dict", lambda p: reads.append(p) or real_reader(p))

    first, from_cache = lite.load_keras_weights("efficientnet_lite0", checkpoint)
    assert not from_cache and len(reads) == 1 and cache.is_file()
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temp file left
    second, from_cache = lite.load_keras_weights("efficientnet_lite0", checkpoint)
    assert from_cache and len(reads) == 1
    assert first.keys() == second.keys()
    for name in first:
        for a, b in zip(first[name], second[name]):
            np.testing.assert_array_equal(a, b)

    # a full build goes through the cache: the checkpoint is not read again
    model = lite.build_efficientnet_lite0()
    assert len(reads) == 1
    np.testing.assert_array_equal(model.keras_model.get_layer("logits").get_weights()[0], first["logits"][0])

    # a corrupt cache file is rebuilt, not crashed on
    cache.write_bytes(b"PK\x03\x04 truncated garbage")
    with pytest.warns(UserWarning, match=f"{cache.name}: weights cache is unreadable"):
        _, from_cache = lite.load_keras_weights("efficientnet_lite0", checkpoint)
    assert not from_cache and len(reads) == 2
    assert lite.load_keras_weights("efficientnet_lite0", checkpoint)[1]  # valid again

    # a cache file that parses but holds wrong shapes: the build converts afresh
    damaged = {k: [a.copy() for a in v] for k, v in first.items()}
    damaged["head_conv"] = [np.zeros((1, 1, 2, 2), np.float32)]
    lite._write_cache(cache, damaged, sha)
    with pytest.warns(UserWarning, match=f"{cache.name}: weights cache does not fit the model"):
        model = lite.build_efficientnet_lite0()
    assert len(reads) == 3
    np.testing.assert_array_equal(model.keras_model.get_layer("head_conv").get_weights()[0], first["head_conv"][0])


# ---------------------------------------------------------------- (e) Lite2


@pytest.mark.shared_data
def test_lite2(shared_sample):
    state = load_state_dict(lite_checkpoint("efficientnet_lite2"))
    assert len(state) == LITE2_TENSORS and trainable(state) == LITE2_PARAMS
    model = get_model("efficientnet_lite2")
    km = model.keras_model
    assert model.input_size == (260, 260)
    assert sum(w.shape.num_elements() for w in km.trainable_weights) == LITE2_PARAMS
    assert len([n for n in model.layer_names if n.endswith("_dwconv")]) == 21
    assert km.get_layer("stem_conv").filters == 32 and km.get_layer("head_conv").filters == 1280
    images = load_image_set(shared_sample, size=260, limit=8)
    top1 = model.top1(images.pixels)
    assert (top1 == images.labels).sum() >= 6  # measured 7/8 (89/100 on the whole sample)


# ---------------------------------------------------------------- (c) live PyTorch checks


def test_reader_matches_torch_save(tmp_path):
    torch = pytest.importorskip("torch")
    state = {
        "w": torch.randn(4, 3, 2, 2),
        "t": torch.randn(5, 6).t(),
        "view": torch.arange(20)[3:11],
        "n": torch.tensor(7),
        "h": torch.randn(3).half(),
        "p": torch.nn.Parameter(torch.randn(2)),
    }
    for zip_format in (True, False):
        path = tmp_path / f"ck_{zip_format}.pth"
        torch.save(state, path, _use_new_zipfile_serialization=zip_format)
        got = load_state_dict(path)
        assert list(got) == list(state)
        for key, value in state.items():
            np.testing.assert_array_equal(got[key], value.detach().numpy())


@pytest.mark.shared_data
def test_lite0_matches_live_pytorch(lite0, shared_sample):
    torch = pytest.importorskip("torch")
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    net = reference.EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(lite_checkpoint("efficientnet_lite0"), map_location="cpu", weights_only=True), strict=True)
    net.eval()
    images = load_image_set(shared_sample, size=224, limit=16)
    x = torch.from_numpy((images.pixels.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        expected = net(x).numpy()
    logits = lite0.logits(images.pixels)
    assert np.abs(logits - expected).max() < LOGIT_TOL
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()
