"""Model wrapper, zoo and the Inception V3 weights boundary."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from bench.cli import main
from models import MODELS, WeightsUnavailable, from_keras, get_model, inception, scale_preprocess, softmax
from models.keras_api import keras


def test_tiny_wrapper_contract():
    model = get_model("tiny")
    assert model.input_size == (32, 32) and model.num_classes == 10
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    logits = model.logits(images, batch_size=2)
    direct = model.keras_model(images.astype(np.float32) / 127.5 - 1.0).numpy()
    np.testing.assert_allclose(logits, direct, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.probabilities(images).sum(axis=1), 1.0, rtol=1e-5)
    feature = model.forward(tf.constant(images, tf.float32), layer="relu2")
    assert feature.shape == (5, 16, 16, 16)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        model.layer_model("nope")
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\)"):
        model.logits(np.zeros((1, 30, 30, 3), np.uint8))
    # mid-grey is the zero of the [-1, 1] input space
    np.testing.assert_allclose(model.input_space_zeros(), 127.5)


def test_from_keras_with_softmax_head():
    inp = keras.Input((8, 8, 3))
    z = keras.layers.Dense(4, name="pre")(keras.layers.Flatten()(inp))
    out = keras.layers.Softmax()(z)
    wrapped = from_keras(keras.Model(inp, out), scale_preprocess(1 / 255.0, 0.0), name="mine", logits_layer="pre")
    x = np.full((2, 8, 8, 3), 200, np.uint8)
    np.testing.assert_allclose(softmax(wrapped.logits(x)), keras.Model(inp, out)(x / 255.0).numpy(), rtol=1e-5)


@pytest.fixture
def no_inception_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(inception.ENV_VAR, raising=False)

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)


def test_inception_without_weights_explains_both_ways(no_inception_weights, capsys):
    with pytest.raises(WeightsUnavailable) as err:
        get_model("inception_v3")
    assert "--weights" in str(err.value) and inception.ENV_VAR in str(err.value)
    assert main(["predict", "--model", "inception_v3", "--limit", "1"]) == 2
    assert inception.ENV_VAR in capsys.readouterr().err


def test_inception_missing_given_file(no_inception_weights, tmp_path):
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        get_model("inception_v3", weights=tmp_path / "nope.h5")


def test_inception_loads_local_file_from_flag_and_env(no_inception_weights, monkeypatch, tmp_path):
    """A local weights file (here: seeded random weights saved by Keras) is what gets loaded."""
    keras.utils.set_random_seed(3)
    reference = keras.applications.InceptionV3(weights=None, classifier_activation=None)
    path = tmp_path / "iv3.h5"
    reference.save_weights(str(path))
    x = np.random.default_rng(0).integers(0, 256, (1, 299, 299, 3), dtype=np.uint8)
    expected = reference(x / 127.5 - 1.0).numpy()
    model = get_model("inception_v3", weights=path)
    np.testing.assert_allclose(model.logits(x), expected, rtol=1e-4, atol=1e-4)
    assert model.weights_sha256 and model.input_size == (299, 299)
    monkeypatch.setenv(inception.ENV_VAR, str(path))
    assert "available" in MODELS["inception_v3"].weights_status()


def test_models_command_lists_zoo(no_inception_weights, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "inception_v3" in out and "tiny" in out and "missing" in out


def test_predict_json_with_tiny(capsys):
    assert main(["predict", "--model", "tiny", "--limit", "3", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 4 and lines[-1]["summary"] is True
    assert set(lines[0]) == {"image_id", "top5", "top5_logits", "label"}
    assert lines[0]["top5_logits"] == sorted(lines[0]["top5_logits"], reverse=True)


@pytest.mark.parametrize(
    "argv, option",
    [
        (["predict", "--model", "tiny", "--limit", "0"], "--limit"),
        (["predict", "--model", "tiny", "--limit", "-1"], "--limit"),
        (["explain", "--model", "tiny", "--methods", "sensitivity", "--limit", "-1"], "--limit"),
        (["run", "--profile", "smoke", "--limit", "0"], "--limit"),
        (["predict", "--model", "tiny", "--batch-size", "0"], "--batch-size"),
        (["predict", "--model", "tiny", "--batch-size", "two"], "--batch-size"),
    ],
    ids=["predict-limit-0", "predict-limit-neg", "explain-limit-neg", "run-limit-0", "batch-size-0", "batch-size-text"],
)
def test_counts_are_checked_before_any_work(argv, option, tmp_path, capsys):
    out = ["--out", str(tmp_path / "out")] if argv[0] in ("explain", "run") else []
    with pytest.raises(SystemExit) as stop:
        main(argv + out)
    assert stop.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_input_space_zeros_preprocess_to_zero_for_channel_swapping_preprocessing():
    """Keras's caffe preprocessing swaps RGB to BGR before subtracting the mean: the zero
    pixel is the mean in RGB order, and it preprocesses to exactly 0."""
    import tensorflow as tf

    from models.keras_classifier import CAFFE_MEAN_BGR, ModelWrapper, caffe_preprocess, scale_preprocess

    for preprocess, expected in (
        (caffe_preprocess(), CAFFE_MEAN_BGR[::-1]),
        (scale_preprocess(1 / 128, -127 / 128), (127.0,) * 3),
    ):
        stub = type("Stub", (), {"input_size": (2, 3), "preprocess": staticmethod(preprocess)})()
        zeros = ModelWrapper.input_space_zeros(stub)
        assert zeros.shape == (2, 3, 3)
        np.testing.assert_allclose(zeros[0, 0], expected, rtol=1e-6)
        np.testing.assert_allclose(preprocess(tf.constant(zeros[None])).numpy(), 0, atol=1e-4)
