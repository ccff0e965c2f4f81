"""Ground-truth tests of the gradient baselines (sensitivity, intgrad, elrp, deeplift).

Every method is checked against an independent computation (tf.GradientTape, numpy loops,
numpy LRP / DeepLIFT on a dense net) or against the property it promises (completeness),
on small seeded networks with non-zero biases and BatchNormalization statistics (a
bias-free ReLU net is positively homogeneous, where IG and DeepLIFT are trivially
complete), and on EfficientNet-Lite0 with real images.

Measured tolerances (relative completeness error |sum(attr) - (f(x) - f(x0))| / |f(x) - f(x0)|):
* small conv nets (4 random images each): DeepLIFT <= 3.4e-6 (ReLU) and 2.2e-7 (ReLU6),
  float32 round-off; IG at 100 steps (right rule) <= 0.0078 (ReLU) and 0.014 (ReLU6);
  with baseline 0.5 (ReLU net, 2 images) 0.017 and 0.017; dense net DeepLIFT <= 1.6e-6;
* EfficientNet-Lite0, 2 shared images: DeepLIFT 2.6e-7 and 2.3e-8; IG (right rule, 100
  steps) 0.196 and 0.035: the path integrand has a spike near the baseline (|dF/da| up to
  290 at a = 0.014 against a mean of 9.6), so 100 steps are far from converged (200: 0.200 /
  0.011, 400: 0.051 / 0.032; midpoint with 2,000 steps: 0.006, the slow test).
Assertions use a margin of about 1.5-3x on the measured integration errors and 10^2-10^3x
on the float32 round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import methods
from methods.attribution_helpers import ig_alphas
from methods.modified_gradient import UnsupportedLayerError, convert_model, get_engine
from models import MODELS, from_keras, get_model
from models.keras_api import keras

L = keras.layers
GRADIENT_METHODS = ["sensitivity", "intgrad", "elrp", "deeplift"]


# ---------------------------------------------------------------------------- models


def _randomise_bn(model: keras.Model, rng: np.random.Generator) -> None:
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape),
                    rng.normal(0, 0.3, beta.shape),
                    rng.normal(0, 0.3, mean.shape),
                    rng.uniform(0.5, 2.0, var.shape),
                ]
            )


def _init(stddev: float, seeds):
    """A fresh seeded initializer (Keras warns when one unseeded instance is reused)."""
    return keras.initializers.RandomNormal(stddev=stddev, seed=next(seeds))


def _wrap(model: keras.Model, name: str):
    return from_keras(model, lambda x: x / 127.5 - 1.0, name=name, preprocessing="x / 127.5 - 1")


def relu_net(seed: int = 0, size: int = 16):
    """Conv-BN-ReLU, Conv-Activation('relu'), Conv with fused ReLU, MaxPool-free, with biases."""
    keras.utils.set_random_seed(seed)
    seeds = iter(range(100 * seed, 100 * seed + 100))
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(8, 3, padding="same", bias_initializer=_init(0.25, seeds))(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.Conv2D(8, 3, strides=2, padding="same", bias_initializer=_init(0.25, seeds))(x)
    x = L.Activation("relu")(x)
    x = L.Conv2D(12, 3, padding="same", activation="relu", bias_initializer=_init(0.25, seeds))(x)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(5, bias_initializer=_init(0.25, seeds))(x)
    model = keras.Model(inp, out)
    _randomise_bn(model, np.random.default_rng(seed))
    return _wrap(model, "relu_net")


def relu6_net(seed: int = 1, size: int = 16):
    """An MBConv-like block as in EfficientNet-Lite: ReLU(max_value=6), depthwise, residual add.
    Kernels are scaled up so that many units saturate at 6."""
    keras.utils.set_random_seed(seed)
    seeds = iter(range(100 * seed, 100 * seed + 100))
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(8, 3, padding="same", use_bias=False, kernel_initializer=_init(1.0, seeds))(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU(max_value=6.0)(x)
    s = x
    x = L.Conv2D(16, 1, use_bias=False, kernel_initializer=_init(1.0, seeds))(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU(6.0)(x)
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False, depthwise_initializer=_init(1.0, seeds))(x)
    x = L.BatchNormalization()(x)
    x = L.Activation(tf.nn.relu6)(x)
    x = L.Conv2D(8, 1, use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.Add()([x, s])
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(5)(x)
    model = keras.Model(inp, out)
    _randomise_bn(model, np.random.default_rng(seed))
    return _wrap(model, "relu6_net")


def dense_net(seed: int = 2, size: int = 4):
    keras.utils.set_random_seed(seed)
    seeds = iter(range(100 * seed, 100 * seed + 100))
    inp = keras.Input((size, size, 3))
    x = L.Flatten()(inp)
    x = L.Dense(20, activation="relu", bias_initializer=_init(0.25, seeds))(x)
    x = L.Dense(15, bias_initializer=_init(0.25, seeds))(x)
    x = L.ReLU()(x)
    out = L.Dense(6, bias_initializer=_init(0.25, seeds))(x)
    return _wrap(keras.Model(inp, out), "dense_net")


def linear_net(seed: int = 3, size: int = 8):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(4, 3, padding="same", bias_initializer="ones")(inp)
    x = L.AveragePooling2D(2)(x)
    x = L.Flatten()(x)
    out = L.Dense(7, bias_initializer="ones")(x)
    return _wrap(keras.Model(inp, out), "linear_net")


def images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def preprocessed(model, imgs) -> np.ndarray:
    return model.preprocess(tf.constant(imgs, tf.float32)).numpy()


def tape_gradient(model, x: np.ndarray, targets) -> np.ndarray:
    """Independent reference: one tf.GradientTape per image, eager."""
    out = []
    for xi, t in zip(x, targets):
        xi = tf.constant(xi[None])
        with tf.GradientTape() as tape:
            tape.watch(xi)
            logit = model.keras_model(xi, training=False)[0, int(t)]
        out.append(tape.gradient(logit, xi).numpy()[0])
    return np.stack(out)


def rel_completeness(e) -> np.ndarray:
    return np.asarray(e.diagnostics["completeness_rel_error"])


# ---------------------------------------------------------------------------- sensitivity / IG


def test_sensitivity_equals_gradient_tape():
    model = relu_net()
    imgs = images(5, 16)
    targets = np.array([0, 1, 2, 3, 4])
    e = methods.explain("sensitivity", model, imgs, targets, batch_size=2)
    ref = tape_gradient(model, preprocessed(model, imgs), targets)
    assert e.attributions.shape == (5, 16, 16, 3) and e.attributions.dtype == np.float32
    np.testing.assert_allclose(e.attributions, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    np.testing.assert_array_equal(e.relevance, np.abs(e.attributions).max(axis=-1))
    assert e.params == {"batch_size": 2, "backend": "native"}


@pytest.mark.parametrize("rule", ["right", "left", "midpoint", "trapezoid"])
def test_intgrad_equals_explicit_riemann_sum(rule):
    model = relu_net()
    imgs = images(3, 16, seed=1)
    targets = np.array([4, 0, 2])
    steps = 7
    e = methods.explain("intgrad", model, imgs, targets, steps=steps, rule=rule, batch_size=5)
    x = preprocessed(model, imgs)
    x0 = np.zeros_like(x[0])
    # independent numpy loop over images and steps
    points = {
        "right": [(k + 1) / steps for k in range(steps)],
        "left": [k / steps for k in range(steps)],
        "midpoint": [(k + 0.5) / steps for k in range(steps)],
        "trapezoid": [k / steps for k in range(steps + 1)],
    }[rule]
    weights = [1 / steps] * len(points)
    if rule == "trapezoid":
        weights[0] = weights[-1] = 0.5 / steps
    ref = np.zeros(x.shape)
    for i in range(len(x)):
        for a, w in zip(points, weights):
            ref[i] += w * tape_gradient(model, (x0 + a * (x[i] - x0))[None], [targets[i]])[0]
    ref *= x - x0
    np.testing.assert_allclose(e.attributions, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())
    np.testing.assert_allclose(e.relevance, e.attributions.sum(-1), rtol=1e-6, atol=1e-7)
    assert e.params["steps"] == steps and e.params["rule"] == rule and e.params["baseline"] == "zeros"


def test_intgrad_nonzero_baseline_and_defaults():
    model = relu_net()
    imgs = images(2, 16, seed=2)
    e = methods.explain("intgrad", model, imgs, baseline=0.5)
    assert e.params["steps"] == 100 and e.params["rule"] == "right"
    x = preprocessed(model, imgs)
    f = model.keras_model(x).numpy()[np.arange(2), e.targets]
    f0 = model.keras_model(np.full((1, 16, 16, 3), 0.5, np.float32)).numpy()[0, e.targets]
    np.testing.assert_allclose(e.diagnostics["target_logit"], f, rtol=1e-6)
    np.testing.assert_allclose(e.diagnostics["baseline_logit"], f0, rtol=1e-6)
    assert np.all(rel_completeness(e) < 0.04), rel_completeness(e)  # measured 0.017 and 0.017


# ---------------------------------------------------------------------------- eps-LRP


def test_elrp_on_linear_model_is_gradient_times_input():
    model = linear_net()
    imgs = images(3, 8, seed=3)
    targets = np.array([0, 3, 6])
    e = methods.explain("elrp", model, imgs, targets)
    x = preprocessed(model, imgs)
    ref = tape_gradient(model, x, targets) * x
    np.testing.assert_allclose(e.attributions, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    np.testing.assert_allclose(e.relevance, e.attributions.sum(-1), rtol=1e-5, atol=1e-7)


def _dense_layers(model):
    return [
        (layer.kernel.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64))
        for layer in model.keras_model.layers
        if isinstance(layer, L.Dense)
    ]


def numpy_lrp_epsilon(model, x: np.ndarray, target: int, eps: float) -> np.ndarray:
    """LRP-epsilon (Bach et al.) on Dense-ReLU-...-Dense, written from the rule:
    R_j = sum_i a_j w_ji R_i / (z_i + eps * sign(z_i)) at every layer followed by a ReLU
    (z_i its pre-activation, bias included), and R_j = a_j w_jt at the output layer (the
    relevance that enters is the target logit itself), as DeepExplain's formulation."""
    layers = _dense_layers(model)
    a = [x.reshape(-1).astype(np.float64)]
    zs = []
    for W, b in layers:
        z = a[-1] @ W + b
        zs.append(z)
        a.append(np.maximum(z, 0))
    W, _ = layers[-1]
    R = a[-2] * W[:, target]  # output layer: LRP-0 on the target logit
    for (W, _b), z, a_in in zip(layers[-2::-1], zs[-2::-1], a[-3::-1]):
        s = R / (z + eps * np.where(z >= 0, 1.0, -1.0))
        R = a_in * (W @ s)
    return R.reshape(x.shape)


def numpy_deeplift_rescale(model, x: np.ndarray, x0: np.ndarray, target: int) -> np.ndarray:
    layers = _dense_layers(model)
    a, a0, zs, z0s = [x.reshape(-1).astype(np.float64)], [x0.reshape(-1).astype(np.float64)], [], []
    for W, b in layers:
        zs.append(a[-1] @ W + b)
        z0s.append(a0[-1] @ W + b)
        a.append(np.maximum(zs[-1], 0))
        a0.append(np.maximum(z0s[-1], 0))
    m = layers[-1][0][:, target]  # multiplier w.r.t. the last hidden activation
    for (W, _), z, z0 in zip(layers[-2::-1], zs[-2::-1], z0s[-2::-1]):
        dz = z - z0
        ratio = np.where(
            np.abs(dz) > 1e-5, (np.maximum(z, 0) - np.maximum(z0, 0)) / np.where(np.abs(dz) > 1e-5, dz, 1), (0.5 * (z + z0) > 0)
        )
        m = W @ (m * ratio)
    return (m * (a[0] - a0[0])).reshape(x.shape)


@pytest.mark.parametrize("eps", [1e-4, 0.5])
def test_elrp_equals_numpy_lrp_epsilon(eps):
    model = dense_net()
    imgs = images(4, 4, seed=4)
    targets = np.array([0, 2, 5, 1])
    e = methods.explain("elrp", model, imgs, targets, epsilon=eps)
    x = preprocessed(model, imgs)
    ref = np.stack([numpy_lrp_epsilon(model, xi, t, eps) for xi, t in zip(x, targets)])
    np.testing.assert_allclose(e.attributions, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    if eps == 0.5:  # the stabiliser matters: the result is not gradient x input
        gxi = tape_gradient(model, x, targets) * x
        assert np.abs(e.attributions - gxi).max() > 1e-2 * np.abs(gxi).max()
    assert e.params["epsilon"] == eps


# ---------------------------------------------------------------------------- DeepLIFT


def test_deeplift_equals_numpy_rescale_on_dense_net():
    model = dense_net()
    imgs = images(4, 4, seed=5)
    targets = np.array([3, 1, 0, 5])
    x = preprocessed(model, imgs)
    for baseline in ["zeros", 0.25]:
        e = methods.explain("deeplift", model, imgs, targets, baseline=baseline)
        x0 = np.zeros_like(x[0]) if baseline == "zeros" else np.full_like(x[0], baseline)
        ref = np.stack([numpy_deeplift_rescale(model, xi, x0, t) for xi, t in zip(x, targets)])
        np.testing.assert_allclose(e.attributions, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
        assert np.all(rel_completeness(e) < 1e-4), rel_completeness(e)  # measured <= 1.6e-6


@pytest.mark.parametrize("builder", [relu_net, relu6_net], ids=["relu", "relu6"])
def test_deeplift_and_intgrad_completeness_small_nets(builder):
    model = builder()
    imgs = images(4, 16, seed=6)
    targets = model.top1(imgs)
    dl = methods.explain("deeplift", model, imgs, targets, batch_size=3)
    ig = methods.explain("intgrad", model, imgs, targets)
    x = preprocessed(model, imgs)
    delta = model.keras_model(x).numpy()[np.arange(4), targets] - model.keras_model(np.zeros_like(x[:1])).numpy()[0, targets]
    np.testing.assert_allclose(dl.attributions.reshape(4, -1).sum(1), delta, rtol=1e-4)
    np.testing.assert_allclose(dl.diagnostics["sum_attributions"], dl.attributions.reshape(4, -1).sum(1), rtol=1e-6)
    assert np.all(rel_completeness(dl) < 1e-4), rel_completeness(dl)  # measured <= 3.4e-6
    assert np.all(rel_completeness(ig) < 0.03), rel_completeness(ig)  # measured <= 0.014
    assert not np.allclose(dl.attributions, ig.attributions)


def test_relu6_net_saturates_and_deeplift_differs_from_gradient_x_input():
    """The ReLU6 model really exercises the upper kink, and the Rescale rule matters."""
    model = relu6_net()
    imgs = images(2, 16, seed=7)
    x = preprocessed(model, imgs)
    relu_out = [layer.output for layer in model.keras_model.layers if isinstance(layer, L.ReLU)]
    acts = keras.Model(model.keras_model.input, relu_out)(x)
    assert any(float(tf.reduce_mean(tf.cast(a >= 6.0, tf.float32))) > 0.05 for a in acts)
    targets = model.top1(imgs)
    dl = methods.explain("deeplift", model, imgs, targets)
    gxi = tape_gradient(model, x, targets) * x
    assert np.abs(dl.attributions - gxi).max() > 0.05 * np.abs(gxi).max()


def test_fused_activation_is_split():
    """Conv2D(activation='relu') behaves as Conv2D + ReLU under the modified rules."""
    model = relu_net()
    clone = convert_model(model.keras_model, "rescale")
    x = preprocessed(model, images(2, 16, seed=8))
    np.testing.assert_allclose(clone(x).numpy(), model.keras_model(x).numpy(), rtol=1e-6, atol=1e-6)
    assert sum(type(layer).__name__ == "SplitFusedActivation" for layer in clone.layers) == 1
    assert sum(type(layer).__name__ == "ModifiedActivation" for layer in clone.layers) == 2


def test_nested_models_are_converted():
    """Sub-models (functional and Sequential) inside the model get the rules too."""
    keras.utils.set_random_seed(0)
    seeds = iter(range(900, 1000))
    inner_in = keras.Input((8, 8, 4))
    inner = keras.Model(inner_in, L.ReLU()(L.Conv2D(4, 3, padding="same", bias_initializer=_init(0.5, seeds))(inner_in)))
    inp = keras.Input((8, 8, 3))
    x = inner(L.Conv2D(4, 3, padding="same", activation="relu", bias_initializer=_init(0.5, seeds))(inp))
    x = keras.Sequential([L.Conv2D(4, 1, bias_initializer=_init(0.5, seeds)), L.ReLU(max_value=6.0)])(x)
    model = _wrap(keras.Model(inp, L.Dense(3)(L.GlobalAveragePooling2D()(x))), "nested")
    clone = get_engine(model, "rescale").model
    subs = [layer for layer in clone.layers if isinstance(layer, keras.Model)]
    assert len(subs) == 2 and all(any(type(m).__name__ == "ModifiedActivation" for m in s.layers) for s in subs)
    imgs = images(3, 8, seed=9)
    e = methods.explain("deeplift", model, imgs, baseline=0.3)
    assert np.all(rel_completeness(e) < 1e-4), rel_completeness(e)  # measured <= 1e-6
    x = preprocessed(model, imgs)
    gxd = tape_gradient(model, x, e.targets) * (x - 0.3)
    assert np.abs(e.attributions - gxd).max() > 1e-2 * np.abs(gxd).max()


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", ["multiply", "softmax", "prelu", "layernorm", "fused_softmax"])
def test_unsupported_layer_raises_for_modified_rules(bad):
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, activation="softmax" if bad == "fused_softmax" else None)(inp)
    if bad == "multiply":
        x = L.Multiply()([x, L.Activation("sigmoid")(x)])
    elif bad == "softmax":
        x = L.Activation("softmax")(x)
    elif bad == "prelu":
        x = L.PReLU()(x)
    elif bad == "layernorm":
        x = L.LayerNormalization()(x)
    out = L.Dense(3)(L.Flatten()(x))
    model = _wrap(keras.Model(inp, out), f"bad_{bad}")
    imgs = images(2, 8)
    for name in ["elrp", "deeplift"]:
        with pytest.raises(UnsupportedLayerError, match=r"not supported|cannot handle|not an elementwise"):
            methods.explain(name, model, imgs)
    # the ordinary gradient works on any differentiable model
    assert np.isfinite(methods.explain("sensitivity", model, imgs).relevance).all()


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_wrong_image_shape_and_unknown_parameter(name):
    model = relu_net()
    with pytest.raises(ValueError, match="takes images of shape"):
        methods.explain(name, model, images(2, 15))
    with pytest.raises(ValueError, match="takes images of shape"):
        methods.explain(name, model, images(2, 16)[0])
    with pytest.raises(TypeError, match="has no parameter"):
        methods.explain(name, model, images(2, 16), stepz=3)
    with pytest.raises(ValueError, match="batch_size"):
        methods.explain(name, model, images(2, 16), batch_size=0)


def test_bad_parameter_values():
    model = relu_net()
    imgs = images(2, 16)
    with pytest.raises(ValueError, match="rule must be one of"):
        methods.explain("intgrad", model, imgs, rule="simpson")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        methods.explain("intgrad", model, imgs, steps=0)
    with pytest.raises(ValueError, match="baseline"):
        methods.explain("deeplift", model, imgs, baseline="black")
    with pytest.raises(ValueError, match="does not broadcast"):
        methods.explain("intgrad", model, imgs, baseline=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="backend must be"):
        methods.explain("sensitivity", model, imgs, backend="deepexplain")
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        methods.explain("elrp", model, imgs, epsilon=0.0)


def test_registry_lists_the_four_methods():
    for name in GRADIENT_METHODS:
        assert name in methods.available()
        assert methods.get_method(name).name == name


def test_ig_alphas():
    for rule in ["right", "left", "midpoint", "trapezoid"]:
        a, w = ig_alphas(10, rule)
        assert np.isclose(w.sum(), 1.0) and a.min() >= 0 and a.max() <= 1
    assert ig_alphas(4, "right")[0].tolist() == [0.25, 0.5, 0.75, 1.0]


# ---------------------------------------------------------------------------- EfficientNet-Lite0


@pytest.fixture(scope="module")
def lite0():
    if "efficientnet_lite0" not in MODELS:
        pytest.skip("efficientnet_lite0 is not registered in models")
    status = MODELS["efficientnet_lite0"].weights_status()
    if not status.startswith(("available", "built in")):
        pytest.skip(f"efficientnet_lite0 weights unavailable: {status}")
    return get_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def lite0_images(shared_sample):
    from bench.datasets import load_image_set

    return load_image_set(shared_sample, size=224, limit=4).pixels


@pytest.mark.shared_data
def test_lite0_completeness(lite0, lite0_images):
    imgs = lite0_images[:2]
    targets = lite0.top1(imgs)
    dl = methods.explain("deeplift", lite0, imgs, targets)
    ig = methods.explain("intgrad", lite0, imgs, targets, batch_size=32)
    # measured: DeepLIFT 2.6e-7, 2.3e-8; IG (100 steps, right rule) 0.196, 0.035
    assert np.all(rel_completeness(dl) < 1e-4), rel_completeness(dl)
    assert np.all(rel_completeness(ig) < 0.3), rel_completeness(ig)
    np.testing.assert_allclose(dl.diagnostics["target_logit"], ig.diagnostics["target_logit"], rtol=1e-5)


@pytest.mark.slow
@pytest.mark.shared_data
def test_lite0_intgrad_converges(lite0, lite0_images):
    """IG's completeness error at 100 steps is integration error: it shrinks with steps."""
    imgs = lite0_images[:1]
    e = methods.explain("intgrad", lite0, imgs, steps=2000, rule="midpoint", batch_size=50)
    assert rel_completeness(e)[0] < 0.02, rel_completeness(e)  # measured 0.006


@pytest.mark.shared_data
@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_lite0_methods_sane_and_deterministic(lite0, lite0_images, name):
    targets = lite0.top1(lite0_images)
    a = methods.explain(name, lite0, lite0_images, targets)
    b = methods.explain(name, lite0, lite0_images, targets)
    assert a.attributions.shape == (4, 224, 224, 3) and a.attributions.dtype == np.float32
    assert a.relevance.shape == (4, 224, 224) and a.relevance.dtype == np.float32
    assert np.isfinite(a.attributions).all() and np.isfinite(a.relevance).all()
    for r in a.relevance:
        assert r.std() > 0
    np.testing.assert_array_equal(a.attributions, b.attributions)
    np.testing.assert_array_equal(a.relevance, b.relevance)
    np.testing.assert_array_equal(a.targets, targets)


def test_engine_is_cached():
    model = relu_net()
    assert get_engine(model, "elrp", 1e-4) is get_engine(model, "elrp", 1e-4)
    assert get_engine(model, "elrp", 1e-4) is not get_engine(model, "elrp", 1e-3)
    assert get_engine(model, "elrp", 1e-4).model is not model.keras_model
    assert get_engine(model, "gradient").model is model.keras_model
