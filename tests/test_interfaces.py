"""The layers' contracts: imports without TensorFlow or side effects, methods and metrics
that describe themselves, parameters checked before any model loads, one source for the
thesis's facts, and errors that keep a bug's traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import ClassVar

import numpy as np
import pytest

import methods
import metrics
from bench.cli import main
from bench.run.profile import apply_overrides, load_profile
from bench.run.runner import run_benchmark
from common import thesis
from common.errors import InputError, ParameterError
from methods import Attribution, ModelCosts, Param, SaliencyMethod
from metrics.per_image import curve_metrics


def test_importing_the_packages_loads_no_tensorflow_and_sets_nothing():
    code = (
        "import os, sys\n"
        "before = dict(os.environ)\n"
        "import metrics; metrics.png_size\n"
        "print('tensorflow' in sys.modules)\n"
        "import common, models, methods, bench, bench.cli\n"
        "print('tensorflow' in sys.modules, dict(os.environ) == before)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out == ["False", "False", "True"]


@pytest.mark.parametrize("name", methods.available())
def test_every_builtin_describes_itself(name):
    cls = methods.get_method(name)
    assert isinstance(cls.signed, bool)
    assert cls.attribution_space in ("input", "pixel", "mask")
    assert cls.parameters and all(isinstance(p, Param) for p in cls.parameters.values())
    assert cls.defaults == {k: p.default for k, p in cls.parameters.items()}
    assert cls().params == {k: cls.parameters[k].validate(name, k, v) for k, v in cls.defaults.items()}


BAD_VALUES = [
    ("deeplift", "baseline", "ones"),
    ("deeplift", "batch_size", 0),
    ("deeplift", "rescale_threshold", -1.0),
    ("intgrad", "steps", 0),
    ("intgrad", "rule", "simpson"),
    ("intgrad", "backend", "captum"),
    ("elrp", "epsilon", 0.0),
    ("elrp", "batch_size", 2.5),
    ("sensitivity", "backend", "x"),
    ("occlusion", "stride", 0),
    ("occlusion", "patch_size", "16"),
    ("noise_mask", "learning_rate", "abc"),
    ("noise_mask", "init", 1.0),
    ("noise_mask", "max_iterations", -5),
    ("noise_mask", "preset", "fastest"),
    ("noise_mask", "beta", -1.0),
    ("noise_mask", "layer", 3),
]


@pytest.mark.parametrize("name, key, value", BAD_VALUES)
def test_a_bad_parameter_is_refused_when_the_method_is_built(name, key, value):
    with pytest.raises(ParameterError, match=key):
        methods.build_method(name, {key: value})


def test_numbers_are_converted_to_the_declared_kind():
    method = methods.build_method("noise_mask", {"learning_rate": 1, "beta": 2})
    assert method.params["learning_rate"] == 1.0 and isinstance(method.params["learning_rate"], float)
    with pytest.raises(ParameterError, match="max_iterations must be a positive integer"):
        methods.build_method("noise_mask", {"max_iterations": 10.0})
    with pytest.raises(ParameterError, match="seed must be an integer"):
        methods.build_method("noise_mask", {"seed": 1.5})


def test_a_bad_parameter_stops_a_run_before_the_model_loads(tmp_path, monkeypatch):
    import bench.run.runner

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the parameters were checked")

    monkeypatch.setattr(bench.run.runner, "get_model", no_model)
    profile = apply_overrides(load_profile("smoke"), ["noise_mask.learning_rate=abc"])
    with pytest.raises(ParameterError, match=r"noise_mask\.learning_rate must be a number; got 'abc'"):
        run_benchmark(profile, tmp_path / "run", log=lambda s: None)
    assert not (tmp_path / "run").exists()


def test_a_misspelt_method_section_is_refused(tmp_path, capsys):
    code = main(["run", "--profile", "smoke", "--param", "noisemask.max_iterations=5", "--out", str(tmp_path / "run")])
    assert code == 2
    assert "no method named 'noisemask'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_estimates_come_from_each_methods_cost_hook():
    costs = ModelCosts(forward=1.0, backward=10.0, input_size=(32, 32))
    assert methods.build_method("noise_mask", {"max_iterations": 7}).estimate_seconds(costs) == 70.0
    assert methods.build_method("intgrad", {"steps": 5}).estimate_seconds(costs) == 50.0
    occlusion = methods.build_method("occlusion", {"patch_size": 16, "stride": 16})
    assert occlusion.estimate_seconds(costs) == 4.0  # 2 x 2 patch positions, one forward pass each
    assert methods.build_method("sensitivity").estimate_seconds(costs) == 20.0  # the default hook


def test_per_image_metrics_declare_their_direction():
    declared = metrics.PER_IMAGE_METRICS
    gray = np.zeros((8, 8), np.uint8)
    image = np.zeros((8, 8, 3), np.uint8)
    curve = np.linspace(1.0, 0.0, 5)
    values = metrics.image_metrics(gray, image, curve, curve + 0.5 * (curve < 1), curve, curve, png_level=9)
    road = curve_metrics(curve, curve + 0.5 * (curve < 1), curve, curve, "road")
    assert list(values) + list(road) == [m for m in declared if m != "method_seconds"]
    assert road["abpc_sum_logit_road"] == values["abpc_sum_logit"]  # same curves, other name
    assert values["abpc_sum_logit"] == pytest.approx(2.0)  # LeRF 0.5 above MoRF on each of 4 steps
    assert all(m.unit and m.description for m in declared.values())
    assert declared["png_bytes"].best({"a": 10, "b": 5}) == "b"  # smaller is better
    assert declared["ssim"].best({"a": 0.1, "b": 0.5}) == "b"  # higher is better


def test_unsigned_relevance_must_not_be_negative():
    rel = np.array([[0.0, -1.0], [2.0, 4.0]])
    assert metrics.grayscale_map(rel).tolist() == metrics.grayscale_map(np.abs(rel)).tolist()
    with pytest.raises(ValueError, match="unsigned"):
        metrics.grayscale_map(rel, signed=False)

    class Negative(SaliencyMethod):
        name = "negative"
        signed = False
        parameters: ClassVar[dict[str, Param]] = {}

        def attribute(self, model, images, targets):
            rel = -np.ones(images.shape[:3], np.float32)
            return Attribution(rel, rel)

    from models import get_model

    with pytest.raises(ValueError, match="declares unsigned relevance but returned negative"):
        Negative().explain(get_model("tiny"), np.zeros((1, 32, 32, 3), np.uint8))


def test_diagnostics_and_series_are_checked_per_image():
    class WrongRows(SaliencyMethod):
        name = "wrong_rows"
        parameters: ClassVar[dict[str, Param]] = {"k": Param(1, int)}

        def attribute(self, model, images, targets):
            rel = np.zeros(images.shape[:3], np.float32)
            return Attribution(rel, rel, diagnostics={"score": np.zeros(len(images) + 1)})

    from models import get_model

    with pytest.raises(ValueError, match=r"diagnostics\['score'\] must have 2 rows"):
        WrongRows().explain(get_model("tiny"), np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ParameterError, match=r"wrong_rows\.k must be an integer"):
        WrongRows(k="x")


def test_paper_profile_takes_the_protocol_from_the_thesis_module(tmp_path):
    paper = load_profile("paper")
    assert paper["run"]["model"] == thesis.MODEL and paper["run"]["images"] == thesis.IMAGES
    assert paper["run"]["methods"] == list(thesis.METHOD_ORDER)
    assert (paper["metrics"]["steps"], paper["metrics"]["pixels_per_step"]) == (thesis.CURVE_STEPS, thesis.PIXELS_PER_STEP)
    assert {k: methods.get_method("noise_mask").defaults[k] for k in thesis.NOISE_MASK} == thesis.NOISE_MASK
    clash = tmp_path / "clash.toml"
    clash.write_text('[run]\nprotocol = "thesis"\n[metrics]\nsteps = 100\n')
    with pytest.raises(InputError, match="remove them"):
        load_profile(str(clash))


BUGGY = '''
import numpy as np
from methods import Attribution, SaliencyMethod

class Buggy(SaliencyMethod):
    name = "buggy"
    parameters = {}

    def attribute(self, model, images, targets):
        return {}["missing"]

class Random(SaliencyMethod):
    """A plug-in named like the random-order baseline."""
    name = "random"
    signed = False
    parameters = {}

    def attribute(self, model, images, targets):
        rel = np.random.default_rng(0).random(images.shape[:3]).astype(np.float32)
        return Attribution(rel, rel)
'''


@pytest.fixture
def test_methods(tmp_path, monkeypatch):
    (tmp_path / "test_methods_module.py").write_text(textwrap.dedent(BUGGY))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(methods.registry.BUILTIN, "buggy", "test_methods_module:Buggy")
    monkeypatch.setitem(methods.registry.BUILTIN, "random", "test_methods_module:Random")
    yield
    sys.modules.pop("test_methods_module", None)


def test_a_bug_inside_a_method_keeps_its_traceback(test_methods, tmp_path):
    with pytest.raises(KeyError, match="missing"):
        main(["explain", "--model", "tiny", "--methods", "buggy", "--limit", "1", "--out", str(tmp_path / "x")])
    with pytest.raises(KeyError, match="missing"):
        main(["run", "--profile", "smoke", "--methods", "buggy", "--out", str(tmp_path / "run")])


def test_a_method_named_random_does_not_collide_with_the_random_order_baseline(test_methods, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--profile", "smoke", "--methods", "random,sensitivity", "--out", str(out)]) == 0
    assert len(list((out / "records" / "random").glob("*.npz"))) == 2
    assert len(list((out / "baselines" / "random-order").glob("*.npz"))) == 2
    import pandas as pd

    curves = pd.read_csv(out / "curves.csv")
    assert set(curves[curves["method"] == "random"]["order"]) == {"morf", "lerf"}
    assert set(curves[curves["method"] == "random-order"]["order"]) == {"random"}
    run = json.loads((out / "run.json").read_text())
    assert run["method_metadata"]["random"] == {"signed": False, "attribution_space": "pixel"}


def test_the_readme_method_example_runs_as_one_file_plus_a_registry_line(tmp_path, monkeypatch):
    from pathlib import Path

    from models import get_model

    readme = (Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "check-your-method.md").read_text()
    code = readme.split("# examples/plugins/smoothgrad.py (in my_pkg/ in your own package)\n", 1)[1].split("```", 1)[0]
    assert code in (Path(__file__).resolve().parents[1] / "examples" / "plugins" / "smoothgrad.py").read_text()
    (tmp_path / "readme_smoothgrad.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(methods.registry.BUILTIN, "smoothgrad", "readme_smoothgrad:SmoothGrad")
    try:
        cls = methods.get_method("smoothgrad")
        assert cls.metadata() == {"signed": False, "attribution_space": "input"}
        result = methods.explain("smoothgrad", get_model("tiny"), np.zeros((2, 32, 32, 3), np.uint8), samples=2)
        assert result.relevance.shape == (2, 32, 32) and (result.relevance >= 0).all()
        assert result.attributions.shape == (2, 32, 32, 3) and result.diagnostics["grad_norm"].shape == (2,)
    finally:
        sys.modules.pop("readme_smoothgrad", None)


def test_innvestigate_backend_without_the_extra_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "innvestigate" else real(name, *a))
    for name in ("sensitivity", "intgrad", "elrp"):
        with pytest.raises(ParameterError, match=r"pip install 'noise-mask-bench\[innvestigate\]'"):
            methods.build_method(name, {"backend": "innvestigate"})


def test_from_keras_refuses_what_is_not_a_keras2_model_and_says_what_to_do():
    import tensorflow as tf

    from models import from_keras, scale_preprocess
    from models.keras_api import LEGACY_PACKAGE

    with pytest.raises(InputError, match="needs a Keras model"):
        from_keras(object(), scale_preprocess(1.0, 0.0))
    if not LEGACY_PACKAGE:
        return  # TensorFlow < 2.16: tf.keras is Keras 2, there is no Keras 3 model to pass
    inp = tf.keras.Input((8, 8, 3))
    keras3 = tf.keras.Model(inp, tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(inp)))
    with pytest.raises(InputError, match=r"Keras 3 model.*tf_keras"):
        from_keras(keras3, scale_preprocess(1.0, 0.0))
