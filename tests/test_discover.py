"""Model discovery (thesis Section 4.3): the layer rule, spread, the command end to end, and
the VGG16 / ResNet50 weights boundary."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.datasets import embedded_image_set_dir
from bench.studies.discovery import (
    CSV_COLUMNS,
    OBSERVATIONS,
    loss_falls,
    noise_mask_params,
    parse_layers,
    resnet_keeps_more_loss,
    spread_gathers,
)
from common.errors import InputError
from metrics.mask_spread import spread
from models import MODELS, WeightsUnavailable, get_model
from models.keras_api import keras
from models.keras_applications import APPLICATIONS
from models.layers import discovery_layers, modules

# ---------------------------------------------------------------------------- the layer rule

EXPECTED = {
    # modules end at block1_pool..block5_pool (the pools separate them); third-last = block3,
    # second-last = block4 (middle conv2, last conv3), last = block5 (conv2, conv3)
    "vgg16": ["block3_conv3", "block4_conv2", "block4_conv3", "block5_conv2", "block5_conv3", "predictions"],
    # stages down-sample in their first block (strided conv): conv3 = blocks 2-4, conv4 = blocks
    # 2-6 (middle: block 4), conv5 = blocks 2-3
    "resnet50": [
        "conv3_block4_out",
        "conv4_block4_out",
        "conv4_block6_out",
        "conv5_block2_out",
        "conv5_block3_out",
        "predictions",
    ],
    # mixed3 and mixed8 are the reduction blocks: modules mixed0-2, mixed4-7 (middle of 4: the
    # earlier, mixed5), mixed9-10
    "inception_v3": ["mixed2", "mixed5", "mixed7", "mixed9", "mixed10", "predictions"],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_six_layers_of_the_keras_applications(name):
    model = APPLICATIONS[name].architecture()  # weights=None: architecture only
    assert discovery_layers(model) == EXPECTED[name]


def test_vgg16_modules_are_the_blocks_between_the_pools():
    found = modules(keras.applications.VGG16(weights=None, classifier_activation=None))
    assert [m[-1] for m in found] == [f"block{b}_conv{2 if b < 3 else 3}" for b in range(1, 6)]
    assert all(not name.endswith("_pool") for m in found for name in m)


def test_the_six_layers_of_efficientnet_lite0():
    # 'a' blocks have no residual, so their expand, depthwise and project units each count;
    # the strided depthwise units (block4a, block6a) separate the modules
    assert discovery_layers(get_model("efficientnet_lite0").keras_model) == [
        "block4a_expand_relu",
        "block5a_dwconv_relu",
        "block6a_expand_relu",
        "block7a_project_bn",
        "head_relu",
        "logits",
    ]


def test_a_network_with_too_few_modules_says_to_name_the_layers():
    with pytest.raises(InputError, match=r"2 module\(s\).*--layers"):
        discovery_layers(get_model("tiny").keras_model)


def test_a_softmax_output_is_refused():
    inp = keras.Input((8, 8, 3))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp))
    with pytest.raises(InputError, match="softmax"):
        discovery_layers(keras.Model(inp, out))


# ---------------------------------------------------------------------------- spread


def test_spread_of_a_single_pixel_is_zero():
    mask = np.zeros((20, 20))
    mask[7, 12] = 1.0
    assert spread(mask) == 0.0


@pytest.mark.parametrize("n", [10, 32, 224])
def test_spread_of_a_uniform_mask(n):
    # coordinates 0..n-1 uniform: variance (n^2 - 1) / 12 per axis, two axes
    expected = np.sqrt(2 * (n**2 - 1) / 12) / n
    assert spread(np.full((n, n), 0.7)) == pytest.approx(expected, rel=1e-12)
    assert abs(spread(np.ones((224, 224))) - 0.408) < 1e-3


def test_spread_of_two_points_and_of_nothing():
    mask = np.zeros((10, 10))
    mask[0, 0] = mask[0, 9] = 1.0  # columns 0 and 9: variance 4.5^2, rows: 0
    assert spread(mask) == pytest.approx(4.5 / 10)
    assert np.isnan(spread(np.zeros((4, 4))))


# ---------------------------------------------------------------------------- arguments and observations


def test_layers_argument():
    assert parse_layers(None, ["a", "b"]) == {"a": None, "b": None}
    six = "l1,l2,l3,l4,l5,logits"
    assert parse_layers([six], ["a"]) == {"a": six.split(",")}
    assert parse_layers(["auto", f"b={six}"], ["a", "b"]) == {"a": None, "b": six.split(",")}
    with pytest.raises(InputError, match="six layer names"):
        parse_layers(["l1,l2"], ["a"])
    with pytest.raises(InputError, match="not one of the --model"):
        parse_layers([f"c={six}"], ["a"])


def test_noise_mask_arguments():
    assert noise_mask_params(["noise_mask.max_iterations=40"], "fast") == {"max_iterations": 40, "preset": "fast"}
    with pytest.raises(InputError, match="only Noise Mask"):
        noise_mask_params(["occlusion.stride=4"], None)
    with pytest.raises(InputError, match="--layers"):
        noise_mask_params(["noise_mask.layer=conv1"], None)


def _table(models: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    rows = [
        {"model": m, "position": p, "image_id": "x", **{c: v[p - 1] for c, v in cols.items()}}
        for m, cols in models.items()
        for p in range(1, 7)
    ]
    return pd.DataFrame(rows)


def test_observations_are_measured_statements():
    table = _table(
        {
            "a": {"spread": [0.4, 0.4, 0.3, 0.2, 0.2, 0.2], "loss_term_pct": [30, 37, 35, 30, 15, 3]},
            "resnet50": {"spread": [0.3, 0.3, 0.3, 0.35, 0.35, 0.3], "loss_term_pct": [30, 40, 40, 30, 22, 8]},
        }
    )
    assert [v.status for v in spread_gathers(table)] == ["held", "not held"]
    assert [v.status for v in loss_falls(table)] == ["held", "held"]
    (verdict,) = resnet_keeps_more_loss(table)
    assert verdict.status == "held" and "resnet50 8%" in verdict.evidence
    (verdict,) = resnet_keeps_more_loss(table[table["model"] == "a"])
    assert verdict.status == "not examined"
    assert all(obs.definition for obs in OBSERVATIONS)


# ---------------------------------------------------------------------------- the command


TINY_LAYERS = "conv1,bn1,relu1,pool1,relu2,logits"


def _discover(out, *extra):
    return main(
        [
            "discover",
            "--model",
            "tiny",
            "--data-dir",
            str(embedded_image_set_dir()),
            "--images",
            "chelsea,coffee",
            "--layers",
            TINY_LAYERS,
            "--param",
            "noise_mask.max_iterations=40",
            "--param",
            "noise_mask.window=10",
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.fixture
def noise_mask_calls(monkeypatch):
    from methods.noise_mask import NoiseMask

    calls = []
    real = NoiseMask.attribute

    def counted(self, model, images, targets):
        calls.append((self.params["layer"], len(images)))
        return real(self, model, images, targets)

    monkeypatch.setattr(NoiseMask, "attribute", counted)
    return calls


def test_discover_end_to_end_resumes_and_refuses_other_settings(tmp_path, noise_mask_calls, capsys):
    out = tmp_path / "disc"
    assert _discover(out) == 0
    # one Noise Mask call per layer, the whole batch at once; the logits as layer None
    assert noise_mask_calls == [("conv1", 2), ("bn1", 2), ("relu1", 2), ("pool1", 2), ("relu2", 2), (None, 2)]

    table = pd.read_csv(out / "discovery.csv", dtype={"image_id": str})
    assert list(table.columns) == CSV_COLUMNS
    assert len(table) == 12 and set(table["model"]) == {"tiny"}
    assert table.groupby("position")["image_id"].apply(sorted).to_dict() == {p: ["chelsea", "coffee"] for p in range(1, 7)}
    assert list(table.drop_duplicates("position")["layer"]) == TINY_LAYERS.split(",")
    assert table.loc[table["position"] == 6, "r_to_logits"].to_numpy() == pytest.approx(1.0)
    assert table["iterations"].eq(40).all() and table["spread"].between(0, 0.41).all()
    assert (table["loss_term_pct"] >= 0).all()

    report = (out / "report.md").read_text()
    assert all(name in report for name in TINY_LAYERS.split(","))
    assert "not examined" in report and "held" in report
    stored = json.loads((out / "discovery.json").read_text())
    assert stored["models"]["tiny"]["layers"] == TINY_LAYERS.split(",") and stored["status"] == "complete"
    assert {p.name for p in (out / "figures").iterdir()} == {"masks_chelsea.png", "masks_coffee.png", "by_layer.png"}
    masks = np.load(out / "records" / "tiny" / "3-relu1" / "masks.npy")
    assert masks.shape == (2, 32, 32) and masks.dtype == np.float32

    # resuming: only the missing (model, layer) record is computed
    shutil.rmtree(out / "records" / "tiny" / "3-relu1")
    noise_mask_calls.clear()
    assert _discover(out) == 0
    assert noise_mask_calls == [("relu1", 2)]
    noise_mask_calls.clear()
    assert _discover(out) == 0
    assert noise_mask_calls == []
    assert pd.read_csv(out / "discovery.csv", dtype={"image_id": str}).equals(table)

    # other settings are refused, naming what differs, with nothing computed
    capsys.readouterr()
    assert _discover(out, "--param", "noise_mask.learning_rate=0.03") == 2
    err = capsys.readouterr().err
    assert "noise_mask.learning_rate 0.015 (this run: 0.03)" in err and "another --out" in err
    assert _discover(out, "--preset", "fast") == 2
    assert "noise_mask.preset" in capsys.readouterr().err
    assert noise_mask_calls == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--model", "tiny", "--layers", "conv1,bn1,relu1,pool1,relu3,logits"], "no layer 'relu3' (did you mean relu2"),
        (["--model", "tiny", "--layers", "conv1,bn1,relu1,pool1,relu2,conv2"], "sixth layer must be"),
        (["--model", "tiny", "--layers", TINY_LAYERS, "--images", "chelsea,nosuch"], "nosuch"),
        (["--model", "tiny"], "cannot pick the thesis's six layers"),
        (["--model", "tiny", "--layers", TINY_LAYERS, "--preset", "fastest"], "preset"),
    ],
)
def test_discover_input_errors_exit_2(tmp_path, argv, message, noise_mask_calls, capsys):
    base = ["discover", "--data-dir", str(embedded_image_set_dir()), "--out", str(tmp_path / "d")]
    assert main(base + argv) == 2
    assert message in capsys.readouterr().err
    assert noise_mask_calls == []


# ---------------------------------------------------------------------------- VGG16 / ResNet50 weights


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for app in APPLICATIONS.values():
        monkeypatch.delenv(app.env_var, raising=False)

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.utils, "get_file", no_network)


@pytest.mark.parametrize(
    "name, env_var, file",
    [
        ("vgg16", "BENCH_VGG16_WEIGHTS", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
        ("resnet50", "BENCH_RESNET50_WEIGHTS", "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    ],
)
def test_vgg16_and_resnet50_offline_say_how_to_provide_weights(offline, capsys, tmp_path, name, env_var, file):
    with pytest.raises(WeightsUnavailable) as err:
        get_model(name)
    message = str(err.value)
    assert env_var in message and file in message and "--weights" in message and "network unreachable" in message
    assert main(["predict", "--model", name, "--limit", "1"]) == 2
    assert env_var in capsys.readouterr().err
    assert MODELS[name].weights_status().startswith("missing")
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        get_model(name, weights=tmp_path / "nope.h5")


def test_caffe_preprocessing_is_keras_own():
    import tensorflow as tf

    from models.keras_classifier import caffe_preprocess

    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    expected = keras.applications.vgg16.preprocess_input(x.copy())
    np.testing.assert_allclose(caffe_preprocess()(tf.constant(x)).numpy(), expected, rtol=1e-6, atol=1e-4)
    assert APPLICATIONS["resnet50"].preprocess is caffe_preprocess
