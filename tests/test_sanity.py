"""The model-parameter randomisation test: ``models.randomisation`` and ``python -m bench sanity``.

Ground truth used here: a method that ignores the model keeps the same map at every step
(Spearman and SSIM 1: it fails the test), while the gradient of a randomised model is
another map; step 0 is the original model (similarity exactly 1); cascading step s changes
exactly the top s groups' weights; the permute rule is Quantus 0.6.0's, and Quantus's MPRT
gives our similarities on the same maps.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from bench.cli import main
from bench.studies.sanity import (
    CSV_COLUMNS,
    CSV_NAMES,
    SanitySettings,
    prepare_sanity,
    randomisation_table,
    read_table,
    report_section,
    run_randomisation,
    run_sanity,
)
from bench.studies.sanity.units import original_units, randomised_units
from methods import Attribution, SaliencyMethod, build_method
from metrics.similarity import prepare, similarities, spearman, ssim
from models import get_model
from models.keras_api import keras
from models.randomisation import ParameterRandomiser, layer_groups, weighted_layers


class Grayscale(SaliencyMethod):
    """Ignores the model: the image's grayscale is its map."""

    name = "grayscale"
    signed = False

    def attribute(self, model, images, targets):
        gray = images.astype(np.float32).mean(axis=-1)
        return Attribution(gray, gray)


@pytest.fixture(scope="module")
def tiny():
    return get_model("tiny")


def _weights(keras_model) -> dict[str, list[np.ndarray]]:
    return {layer.name: [w.copy() for w in layer.get_weights()] for layer in weighted_layers(keras_model)}


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------------------- groups


def _named_model(names: list[tuple[str, str]]):
    """A chain of layers of the given (kind, name), kind 'conv', 'dw', 'bn', 'relu' or 'dense'."""
    inp = keras.Input((16, 16, 3))
    x = inp
    for kind, name in names:
        if kind == "conv":
            x = keras.layers.Conv2D(4, 1, name=name)(x)
        elif kind == "dw":
            x = keras.layers.DepthwiseConv2D(3, padding="same", name=name)(x)
        elif kind == "bn":
            x = keras.layers.BatchNormalization(name=name)(x)
        elif kind == "relu":
            x = keras.layers.ReLU(name=name)(x)
        elif kind == "dense":
            x = keras.layers.Dense(5, name=name)(keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x))
    return keras.Model(inp, x)


EFFICIENTNET_LIKE = [
    ("conv", "stem_conv"),
    ("bn", "stem_bn"),
    ("relu", "stem_relu"),
    ("dw", "block1a_dwconv"),
    ("bn", "block1a_dwconv_bn"),
    ("conv", "block1a_project_conv"),
    ("conv", "block2a_expand_conv"),
    ("dw", "block2a_dwconv"),
    ("conv", "block2b_expand_conv"),
    ("bn", "block2b_expand_bn"),
    ("conv", "head_conv"),
    ("bn", "head_bn"),
    ("dense", "logits"),
]


def test_groups_by_stage_block_and_layer_top_first():
    model = _named_model(EFFICIENTNET_LIKE)
    stage = layer_groups(model, "stage")
    assert [g.name for g in stage] == ["logits", "head", "block2", "block1", "stem"]
    assert stage[2].layers == ("block2a_expand_conv", "block2a_dwconv", "block2b_expand_conv", "block2b_expand_bn")
    assert stage[-1].layers == ("stem_conv", "stem_bn")
    block = layer_groups(model, "block")
    assert [g.name for g in block] == ["logits", "head", "block2b", "block2a", "block1a", "stem"]
    layers = layer_groups(model, "layer")
    assert [g.name for g in layers] == [layer.name for layer in reversed(weighted_layers(model))]
    assert sum(len(g.layers) for g in stage) == len(weighted_layers(model))


def test_a_normalisation_layer_joins_the_layer_before_it(tiny):
    assert [(g.name, g.layers) for g in layer_groups(tiny.keras_model)] == [
        ("logits", ("logits",)),
        ("conv2", ("conv2",)),
        ("conv1", ("conv1", "bn1")),
    ]


def test_numbered_keras_names_fall_back_to_cut_point_segments():
    names = []
    for k in range(45):  # Keras's automatic names: conv2d_k, batch_normalization_k (Inception V3)
        names += [("conv", f"conv2d_{k}"), ("bn", f"batch_normalization_{k}"), ("relu", f"activation_{k}")]
    model = _named_model([*names, ("dense", "predictions")])
    groups = layer_groups(model, "stage")
    assert len(groups) == 46
    assert groups[0].layers == ("predictions",)
    assert groups[-1] == type(groups[-1])("conv2d_0", ("conv2d_0", "batch_normalization_0"))


# ---------------------------------------------------------------------------- randomised weights


@pytest.mark.parametrize("rule", ["shuffle", "reinit", "permute"])
def test_cascading_step_changes_exactly_the_top_groups(tiny, rule):
    original = _weights(tiny.keras_model)
    r = ParameterRandomiser(tiny, rule=rule, seed=3)
    incremental = {}
    for step, _group, model in r.iterate("cascading"):
        incremental[step] = _weights(model.keras_model)
    for step in range(r.steps + 1):
        weights = _weights(r.randomised(step).keras_model)
        if step:
            assert _weights_equal(weights, incremental[step])  # one clone, applied incrementally = built directly
        randomised = {n for g in r.groups[:step] for n in g.layers}
        for name, arrays in weights.items():
            if name in randomised:
                assert _same(arrays, r.random_weights(tiny.keras_model.get_layer(name)))
                kernel_changed = not np.array_equal(arrays[0], original[name][0])
                assert kernel_changed or name == "bn1"  # bn1 is untrained: ones and zeros stay ones and zeros
            else:
                assert _same(arrays, original[name])
    assert _weights_equal(_weights(tiny.keras_model), original)  # the original model is untouched


def _weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)


def test_independent_step_changes_only_its_group(tiny):
    original = _weights(tiny.keras_model)
    r = ParameterRandomiser(tiny, seed=0)
    for step, group, model in r.iterate("independent"):
        weights = _weights(model.keras_model)
        for name in weights:
            expected = r.random_weights(tiny.keras_model.get_layer(name)) if name in group.layers else original[name]
            assert _same(weights[name], expected), (step, name)
        assert _weights_equal(weights, _weights(r.randomised(step, "independent").keras_model))


def test_same_seed_same_weights_other_seed_other_weights(tiny):
    def full(seed, rule="shuffle"):
        r = ParameterRandomiser(tiny, rule=rule, seed=seed)
        return _weights(r.randomised(r.steps).keras_model)

    for rule in ("shuffle", "reinit"):
        assert _weights_equal(full(5, rule), full(5, rule))
        assert not np.array_equal(full(5, rule)["conv1"][0], full(6, rule)["conv1"][0])
    shuffled = full(0)["conv2"][0]  # shuffle keeps each array's values
    assert np.array_equal(np.sort(shuffled, axis=None), np.sort(tiny.keras_model.get_layer("conv2").get_weights()[0], axis=None))


def test_reinit_draws_from_the_layers_initializers(tiny):
    r = ParameterRandomiser(tiny, rule="reinit", seed=0)
    gamma, beta, mean, var = r.random_weights(tiny.keras_model.get_layer("bn1"))
    assert np.all(gamma == 1) and np.all(beta == 0) and np.all(mean == 0) and np.all(var == 1)
    kernel, bias = r.random_weights(tiny.keras_model.get_layer("conv1"))
    limit = np.sqrt(6 / (3 * 3 * 3 + 3 * 3 * 8))  # Glorot uniform, fan_in 27, fan_out 72
    assert np.all(np.abs(kernel) <= limit) and kernel.std() > limit / 3 and np.all(bias == 0)
    assert r.fallbacks == []


def test_the_permute_rule_is_quantus_0_6_0s(tiny):
    quantus = pytest.importorskip("quantus", reason="quantus (test extra) is not importable")
    from quantus.helpers.model.tf_model import TensorFlowModel

    mine = ParameterRandomiser(tiny, granularity="layer", rule="permute", seed=42)
    generator = TensorFlowModel(tiny.keras_model, channel_first=False).get_random_layer_generator(order="independent", seed=42)
    steps = {g.name: step for step, g in enumerate(mine.groups, start=1)}
    seen = 0
    for layer_name, q_model in generator:
        ours = mine.randomised(steps[layer_name], "independent")
        assert _weights_equal(_weights(q_model), _weights(ours.keras_model)), layer_name
        seen += 1
    assert seen == mine.steps == 4
    del quantus


# ---------------------------------------------------------------------------- similarity


def test_similarities_equal_quantus_own_functions():
    quantus = pytest.importorskip("quantus", reason="quantus (test extra) is not importable")
    from quantus.functions.normalise_func import normalise_by_max
    from quantus.functions.similarity_func import correlation_spearman
    from quantus.functions.similarity_func import ssim as q_ssim

    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 28, 30)).astype(np.float32)
    b = (a + rng.normal(scale=1.5, size=a.shape)).astype(np.float32)
    b[1] *= 1e-6  # scale must not matter to Spearman, and SSIM sees the normalised maps
    for x, y in zip(a, b):
        qa, qb = np.abs(normalise_by_max(x)), np.abs(normalise_by_max(y))  # MPRT: normalise, then abs
        np.testing.assert_array_equal(prepare(x), qa)
        assert spearman(x, y) == pytest.approx(correlation_spearman(qa.ravel(), qb.ravel()), abs=1e-12)
        assert ssim(x, y) == q_ssim(qa, qb)
        assert ssim(x, y, flat=True) == q_ssim(qa.ravel(), qb.ravel())  # what MPRT passes it
    batched = correlation_spearman(np.abs(a).reshape(4, -1), np.abs(b).reshape(4, -1), batched=True)
    s, q = similarities(a, b)
    np.testing.assert_allclose(s, batched, atol=1e-12)
    assert q.shape == (4,) and np.all(q < 1)
    del quantus


def test_identical_maps_are_exactly_1_and_constant_maps_nan():
    m = np.random.default_rng(1).normal(size=(20, 20))
    assert spearman(m, m.copy()) == 1.0 and ssim(m, m.copy()) == 1.0
    assert spearman(m, -m) == 1.0  # abs maps: the sign does not count
    assert np.isnan(spearman(m, np.zeros_like(m)))


# ---------------------------------------------------------------------------- the test on known models


def test_a_model_free_method_fails_and_the_gradient_passes(square_model, square_images, square_mask):
    r = ParameterRandomiser(square_model, granularity="layer", seed=0)
    assert [g.name for g in r.groups] == [weighted_layers(square_model.keras_model)[k].name for k in (1, 0)]
    methods = {"grayscale": Grayscale(), "sensitivity": build_method("sensitivity")}
    results = list(run_randomisation(square_model, square_images, methods, r))
    table = randomisation_table(results, ["a", "b", "c"])
    assert list(table.columns) == CSV_COLUMNS
    assert len(table) == 2 * 3 * (1 + r.steps)
    assert (table[table["step"] == 0][["spearman", "ssim"]] == 1.0).all().all()
    gray = table[table["method"] == "grayscale"]
    assert (gray["spearman"] == 1.0).all() and (gray["ssim"] == 1.0).all()  # ignores the model: never changes
    # the gradient of the randomised model is another map where the model looks (the square) ...
    original = next(x.relevance for x in results if x.method == "sensitivity" and x.step == 0)
    last = next(x.relevance for x in results if x.method == "sensitivity" and x.step == r.steps)
    inside, _ = similarities(original[:, square_mask], last[:, square_mask])
    assert np.all(inside < 0.5)
    # ... while over the whole image the shared zeros outside it (the architecture's, not the
    # weights') keep the rank correlation high: what the whole-image number also measures
    whole = table[(table["method"] == "sensitivity") & (table["step"] == r.steps)]["spearman"]
    assert np.all(whole > 0.9)


def test_methods_see_the_randomised_weights_of_the_reused_clone(tiny):
    """Gradient engines and compiled forwards are cached per model object: the one clone
    changed in place between steps must give what a fresh copy at that step gives."""
    images = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    targets = tiny.top1(images)
    methods = {
        "sensitivity": build_method("sensitivity"),
        "deeplift": build_method("deeplift"),
        "elrp": build_method("elrp"),
        "intgrad": build_method("intgrad", {"steps": 8}),
        "occlusion": build_method("occlusion", {"patch_size": 8, "stride": 8}),
        "noise_mask": build_method("noise_mask", {"max_iterations": 6, "window": 6}),
    }
    r = ParameterRandomiser(tiny, seed=1)
    reused = {}
    for step, _, model in r.iterate("cascading"):
        for name, method in methods.items():  # explain at every step, so every cache is warm
            reused[step, name] = method.explain(model, images, targets).relevance
    for step in (1, r.steps):
        fresh = r.randomised(step)
        for name, method in methods.items():
            np.testing.assert_allclose(reused[step, name], method.explain(fresh, images, targets).relevance, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------- Quantus's MPRT on the same maps


def quantus_mprt(model, pixels, targets, method, order: str, similarity: str = "spearman", fix_clone: bool = True):
    """Quantus 0.6.0's MPRT of ``method`` (ours, called as its explain_func) on ``model``, one
    image per batch (Quantus normalises a batch by one maximum). ``fix_clone``: Quantus's
    TensorFlow generator clones the model without its weights (keras.models.clone_model
    re-initialises), so its cascading ("top_down") steps start from a freshly initialised
    model; with ``fix_clone`` the clone gets the original weights first, the only change."""
    import quantus
    from quantus.helpers.model import tf_model

    from models import ModelWrapper

    wrappers = {}

    def explain_func(model, inputs, targets, **kwargs):
        x = np.asarray(inputs)
        if x.shape[-1] != 3:  # Quantus hands the randomised models channel-first inputs
            x = np.moveaxis(x, 1, -1)
        if id(model) not in wrappers:
            wrappers[id(model)] = (model, ModelWrapper("quantus", model, model_wrapper.preprocess, "", "quantus copy"))
        wrapper = wrappers[id(model)][1]
        return method.explain(wrapper, x.astype(np.uint8), np.asarray(targets)).relevance

    model_wrapper = model
    original_generator = tf_model.TensorFlowModel.get_random_layer_generator

    def fixed_generator(self, order="top_down", seed=42):
        original_parameters = self.state_dict()
        random_layer_model = tf_model.clone_model(self.model)
        random_layer_model.set_weights(original_parameters)  # the fix
        layers = [_layer for _layer in random_layer_model.layers if len(_layer.get_weights()) > 0]
        if order == "top_down":
            layers = layers[::-1]
        for layer in layers:
            if order == "independent":
                random_layer_model.set_weights(original_parameters)
            weights = layer.get_weights()
            np.random.seed(seed=seed + 1)
            layer.set_weights([np.random.permutation(w) for w in weights])
            yield layer.name, random_layer_model

    def ssim_array(a, b, batched=False, **kwargs):  # quantus.ssim returns a list, which MPRT 0.6.0 cannot take
        return np.asarray(quantus.ssim(a, b, batched=batched, **kwargs))

    metric = quantus.MPRT(
        layer_order=order,
        seed=42,
        similarity_func=ssim_array if similarity == "ssim" else None,
        disable_warnings=True,
        display_progressbar=False,
    )
    if fix_clone:
        tf_model.TensorFlowModel.get_random_layer_generator = fixed_generator
    try:
        scores = metric(
            model=model.keras_model,
            x_batch=pixels.astype(np.float32),
            y_batch=np.asarray(targets),
            a_batch=None,
            channel_first=False,
            explain_func=explain_func,
            batch_size=1,
        )
    finally:
        tf_model.TensorFlowModel.get_random_layer_generator = original_generator
    return {k: np.asarray(v, np.float64) for k, v in scores.items()}


def mprt_agreement(model, pixels, method_name: str, params: dict | None = None) -> dict:
    """Max |ours - Quantus| over images and layers, per order and similarity (ours: one step
    per Keras layer, the permute rule, seed 42: Quantus's settings)."""
    method = build_method(method_name, params or {})
    targets = model.top1(pixels)
    r = ParameterRandomiser(model, granularity="layer", rule="permute", seed=42)
    results = list(run_randomisation(model, pixels, {method_name: method}, r, ("cascading", "independent"), targets))
    original = results[0].relevance
    ours = {}
    for x in results[1:]:
        flat = np.array([ssim(a, b, flat=True) for a, b in zip(original, x.relevance)])
        ours[x.mode, x.layer] = {"spearman": x.spearman, "ssim": flat}
    out = {}
    for mode, order in (("cascading", "top_down"), ("independent", "independent")):
        for similarity in ("spearman", "ssim"):
            q = quantus_mprt(model, pixels, targets, method, order, similarity)
            assert np.allclose(q.pop("original"), 1.0)
            diffs = [np.max(np.abs(ours[mode, layer][similarity] - v)) for layer, v in q.items()]
            assert len(diffs) == r.steps
            out[mode, similarity] = float(np.max(diffs))
    return out


QUANTUS_TAKES_OUR_MODELS = pytest.mark.skipif(
    tf.keras.Model is not keras.Model,
    reason="Quantus 0.6 wraps only tf.keras models, and on TensorFlow >= 2.16 tf.keras is Keras 3 while the suite's models "
    "are tf_keras ones; this cross-check runs on the TensorFlow 2.14 stack (tox -e py311-innvestigate)",
)


@QUANTUS_TAKES_OUR_MODELS
@pytest.mark.parametrize("method_name", ["sensitivity", "deeplift"])
def test_quantus_mprt_gives_our_similarities(tiny, method_name):
    pytest.importorskip("quantus", reason="quantus (test extra) is not importable")
    images = np.random.default_rng(3).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    agreement = mprt_agreement(tiny, images, method_name)
    assert max(agreement.values()) < 1e-6, agreement


def test_quantus_top_down_on_tensorflow_starts_from_a_reinitialised_model(tiny):
    """Quantus 0.6.0's TF cascading order clones the model without its weights: already its
    first step (the logits layer permuted) holds a freshly initialised network."""
    pytest.importorskip("quantus", reason="quantus (test extra) is not importable")
    from quantus.helpers.model.tf_model import TensorFlowModel

    name, q_model = next(TensorFlowModel(tiny.keras_model, channel_first=False).get_random_layer_generator("top_down", 42))
    assert name == "logits"
    assert not np.array_equal(q_model.get_layer("conv1").get_weights()[0], tiny.keras_model.get_layer("conv1").get_weights()[0])


@pytest.mark.slow
@QUANTUS_TAKES_OUR_MODELS
def test_quantus_mprt_agreement_on_efficientnet_lite0(shared_sample, capsys):
    """The cross-check at full size: 8 shared images, one step per Keras layer (99 steps)."""
    pytest.importorskip("quantus", reason="quantus (test extra) is not importable")
    from bench.datasets import load_image_set

    model = get_model("efficientnet_lite0")
    pixels = load_image_set(shared_sample, size=model.input_size, limit=8).pixels
    for method_name in ("sensitivity", "deeplift"):
        agreement = mprt_agreement(model, pixels, method_name)
        with capsys.disabled():
            print(f"\n{method_name}: max |ours - Quantus MPRT| per (order, similarity): {agreement}")
        assert max(agreement.values()) < 1e-4, agreement


# ---------------------------------------------------------------------------- the command


def _sanity(out, *extra):
    return main(["sanity", "--model", "tiny", "--methods", "sensitivity", "--limit", "1", "--out", str(out), *extra])


def test_sanity_command_writes_csv_report_figure_and_resumes(tmp_path, capsys):
    out = tmp_path / "sanity"
    assert _sanity(out, "--mode", "both") == 0
    table = pd.read_csv(out / "randomisation.csv")
    assert list(table.columns) == CSV_COLUMNS
    assert list(table["step"]) == [0, 1, 2, 3] and list(table["layer"]) == ["original", "logits", "conv2", "conv1"]
    assert (table[table["step"] == 0][["spearman", "ssim"]] == 1.0).all().all()
    independent = pd.read_csv(out / "randomisation-independent.csv")
    assert list(independent.columns) == CSV_COLUMNS and len(independent) == 4
    run = json.loads((out / "sanity.json").read_text())
    assert run["status"] == "complete" and run["image_ids"] == ["astronaut"]
    assert run["randomisation"]["rule"] == "shuffle" and [g["name"] for g in run["randomisation"]["groups"]] == [
        "logits",
        "conv2",
        "conv1",
    ]
    assert set(run["summary"]["cascading"]["sensitivity"]) >= {"spearman", "ssim", "verdict"}
    assert (out / "figures" / "randomisation.png").stat().st_size > 10_000
    assert (out / "figures" / "randomisation-independent.png").is_file()
    report = (out / "report.md").read_text()
    assert "figures/randomisation.png" in report and "| sensitivity |" in report
    before = (out / "randomisation.csv").read_text()
    capsys.readouterr()
    assert _sanity(out, "--mode", "both") == 0  # resumes: nothing to run again
    assert "0 passes to run" in capsys.readouterr().out
    assert (out / "randomisation.csv").read_text() == before
    assert _sanity(out, "--mode", "both", "--seed", "1") == 2  # other settings are refused
    assert "different settings" in capsys.readouterr().err


def test_report_section_for_a_run_report(tmp_path):
    out = tmp_path / "run" / "sanity"
    assert _sanity(out) == 0
    lines = report_section(out)
    text = "\n".join(lines)
    assert lines[0].startswith("## Sanity check")
    assert "| sensitivity |" in text and "](sanity/figures/randomisation.png)" in text
    assert "](figures/randomisation.png)" in "\n".join(report_section(out, relative_to=out))
    empty = tmp_path / "run2" / "sanity"
    empty.mkdir(parents=True)
    assert "no finished sanity run" in "\n".join(report_section(empty))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "tiny", "--methods", "nope"], "unknown method 'nope'"),
        (["--model", "nope", "--methods", "sensitivity"], "unknown model 'nope'"),
        (["--model", "tiny", "--methods", "sensitivity", "--data-dir", "/nonexistent/x"], "/nonexistent/x"),
        (["--model", "tiny", "--methods", "sensitivity", "--param", "deeplift.steps=3"], "not one of --methods"),
        (["--model", "tiny", "--methods", "noise_mask", "--param", "noise_mask.max_iterations=0"], "noise_mask.max_iterations"),
        (["--model", "tiny", "--methods", "sensitivity,sensitivity"], "twice"),
    ],
)
def test_input_errors_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(["sanity", *argv, "--limit", "1", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_limit_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sanity", "--model", "tiny", "--methods", "sensitivity", "--limit", "0", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "--limit" in capsys.readouterr().err and not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------- the passes as units

BEFORE_UNITS = [
    # (method, image, step, layer, spearman, ssim) of the cascading test on tiny (the first two
    # embedded images, shuffle, seed 0) as it was computed before its passes became units
    ("sensitivity", "astronaut", 1, "logits", 0.2495565521958372, 0.2542722988886206),
    ("sensitivity", "chelsea", 1, "logits", 0.23270877664330164, 0.1949057951821848),
    ("sensitivity", "astronaut", 2, "conv2", 0.22616533152135035, 0.22807908692607942),
    ("sensitivity", "chelsea", 2, "conv2", 0.20454965667691866, 0.1689449422399926),
    ("sensitivity", "astronaut", 3, "conv1", 0.019101515002503396, -0.002136594750815551),
    ("sensitivity", "chelsea", 3, "conv1", 0.03365117167942207, 0.062251134531898976),
    ("deeplift", "astronaut", 1, "logits", 0.36925238940347616, 0.2891184532739871),
    ("deeplift", "chelsea", 1, "logits", 0.35220876770259635, 0.2678634614033415),
    ("deeplift", "astronaut", 2, "conv2", 0.35736575531077885, 0.33322886835450316),
    ("deeplift", "chelsea", 2, "conv2", 0.26509664902367497, 0.3015151387914056),
    ("deeplift", "astronaut", 3, "conv1", 0.29697618643158563, 0.23078401266258297),
    ("deeplift", "chelsea", 3, "conv1", 0.18044763875974534, 0.22681186071853376),
]


def _two_methods(out, **kwargs):
    return run_sanity("tiny", ["sensitivity", "deeplift"], out, limit=2, mode="both", **kwargs)


def _tables(out) -> dict[str, pd.DataFrame]:
    return {mode: read_table(out, mode) for mode in ("cascading", "independent")}


def test_the_local_executor_gives_what_the_test_gave_before_and_resumes(tmp_path):
    out = _two_methods(tmp_path / "s", executor="local", log=lambda s: None)
    tables = _tables(out)
    later = tables["cascading"][tables["cascading"]["step"] > 0]
    assert list(later[["method", "image_id", "step", "layer"]].itertuples(index=False, name=None)) == [
        r[:4] for r in BEFORE_UNITS
    ]
    np.testing.assert_allclose(later[["spearman", "ssim"]].to_numpy(), [r[4:] for r in BEFORE_UNITS], rtol=0, atol=1e-6)

    # a worker given the units in any order (as a Ray worker may get them) computes the same
    prepared = prepare_sanity(SanitySettings("tiny", ["sensitivity", "deeplift"], limit=2, mode="both"))
    worker = prepared.spec.make_worker()
    ids, pixels = list(prepared.images.ids), prepared.images.pixels
    originals = {
        u.method: worker.run(u).relevance for u in original_units(["sensitivity", "deeplift"], ids, pixels, prepared.targets)
    }
    groups = prepared.worker.randomiser.groups
    for unit in reversed(randomised_units(originals, groups, ("cascading", "independent"), ids, pixels, prepared.targets)):
        result = worker.run(unit)
        table = tables[unit.mode]
        part = table[(table["method"] == unit.method) & (table["step"] == unit.step)]
        np.testing.assert_array_equal(part["spearman"].to_numpy(), result.spearman, err_msg=unit.key)
        np.testing.assert_array_equal(part["ssim"].to_numpy(), result.ssim, err_msg=unit.key)

    # a rerun computes only the missing passes, a step 0 among them, and gives the same tables
    before = {name: (out / name).read_bytes() for name in CSV_NAMES.values()}
    (out / "records" / "cascading" / "deeplift" / "step02.json").unlink()
    (out / "records" / "original" / "sensitivity" / "step00.json").unlink()
    logs = []
    _two_methods(out, log=logs.append)
    assert any("; 2 passes to run on the local executor" in line for line in logs), logs
    assert {name: (out / name).read_bytes() for name in CSV_NAMES.values()} == before


@pytest.mark.slow  # about 55 s: Ray and two workers that each load TensorFlow
def test_the_ray_executor_gives_the_local_tables(tmp_path):
    ray = pytest.importorskip("ray", reason="ray (the ray extra) is not importable")
    local = _two_methods(tmp_path / "local", log=lambda s: None)
    logs = []
    started = ray.is_initialized()
    out = _two_methods(tmp_path / "ray", executor="ray", executor_options={"workers": 2}, log=logs.append)
    assert ray.is_initialized() == started  # the executor shut down the Ray it started
    assert any("passes to run on the ray executor" in line for line in logs), logs
    for name in CSV_NAMES.values():
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    for path in sorted((local / "maps").rglob("*.npy")):
        assert np.array_equal(np.load(out / path.relative_to(local)), np.load(path)), path
