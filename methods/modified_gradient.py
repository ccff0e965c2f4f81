"""One engine for the gradient baselines: the gradient with the nonlinearities' gradients
optionally overridden, as Ancona et al.'s DeepExplain (the thesis's toolkit) computes them.

``rule="gradient"``: the ordinary gradient (sensitivity; Integrated Gradients on
interpolated inputs).

``rule="elrp"``: every elementwise nonlinearity y = f(z) back-propagates
``dy * f(z) / (z + eps * s(z))`` with s(z) = +1 for z >= 0 and -1 otherwise (DeepExplain's
``EpsilonLRP.nonlinearity_grad_override``); attributions are that modified gradient times
the input. This equals LRP-epsilon with the stabiliser applied at the pre-activation of
every nonlinearity (Ancona et al. 2018, Proposition 1); linear layers pass the gradient.

``rule="rescale"``: DeepLIFT-Rescale. The model runs on the batch ``[x; x0]`` (inputs and
their references: BatchNormalization runs in inference mode, so samples never mix) and
every nonlinearity back-propagates, for the ``x`` half, the multiplier
``(f(z) - f(z0)) / (z - z0)`` where ``|z - z0| > threshold`` (1e-5, DeepExplain's) and the
ordinary derivative at the midpoint ``(z + z0) / 2`` elsewhere; attributions are the
modified gradient times ``x - x0``. The reference activations z0 are those of the
reference half of the same batch, so each layer sees its own reference.

Max pooling keeps its ordinary gradient in both modified rules (DeepExplain only overrides
activation ops), so on networks with max pooling DeepLIFT's attributions need not sum to
f(x) - f(x0) exactly. DeepExplain left ``Relu6`` with its ordinary gradient (with a
warning); this engine applies the rule to every elementwise nonlinearity, ReLU6 included,
which is what makes DeepLIFT complete on EfficientNet-Lite.

The modified network is a ``keras.models.clone_model`` of the original: layers that are
linear in their input (or max pooling) are *shared* with the original (same weights), each
nonlinearity layer is replaced by a :class:`ModifiedActivation` that computes the same
forward pass under a ``tf.custom_gradient``, and a layer with a fused nonlinear activation
(e.g. ``Conv2D(activation="relu")``) is split into its linear part (weights copied) and a
:class:`ModifiedActivation`. Anything else raises :class:`UnsupportedLayerError`.
Everything works in the model's input space (preprocessed images).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from models.keras_api import keras

RULES = ("gradient", "elrp", "rescale")
RESCALE_THRESHOLD = 1e-5
"""DeepExplain's |x - x0| below which DeepLIFT falls back to the ordinary gradient."""

L = keras.layers

ELEMENTWISE_ACTIVATIONS = {
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "hard_sigmoid",
    "exponential",
    "leaky_relu",
    "mish",
}
"""Names (``fn.__name__``) of elementwise activation functions the rules apply to."""

LINEAR_ACTIVATIONS = {"linear"}

ACTIVATION_LAYERS = (L.ReLU, L.LeakyReLU, L.ELU, L.ThresholdedReLU)
"""Parameter-free elementwise nonlinearity layers (``layer.call`` is the function)."""

PASS_THROUGH = (
    L.InputLayer,
    L.Dense,
    L.Conv1D,
    L.Conv2D,
    L.Conv3D,
    L.Conv1DTranspose,
    L.Conv2DTranspose,
    L.Conv3DTranspose,
    L.DepthwiseConv1D,
    L.DepthwiseConv2D,
    L.SeparableConv1D,
    L.SeparableConv2D,
    L.BatchNormalization,  # inference mode: a per-channel affine map
    L.Add,
    L.Subtract,
    L.Average,
    L.Concatenate,
    L.Reshape,
    L.Flatten,
    L.Permute,
    L.RepeatVector,
    L.ZeroPadding1D,
    L.ZeroPadding2D,
    L.ZeroPadding3D,
    L.Cropping1D,
    L.Cropping2D,
    L.Cropping3D,
    L.UpSampling1D,
    L.UpSampling2D,
    L.UpSampling3D,  # every resize method is linear in the input
    L.AveragePooling1D,
    L.AveragePooling2D,
    L.AveragePooling3D,
    L.GlobalAveragePooling1D,
    L.GlobalAveragePooling2D,
    L.GlobalAveragePooling3D,
    L.Dropout,
    L.SpatialDropout1D,
    L.SpatialDropout2D,
    L.SpatialDropout3D,
    L.GaussianDropout,
    L.GaussianNoise,
    L.AlphaDropout,
    L.ActivityRegularization,
    L.Rescaling,
    L.Normalization,
    # ordinary gradient, as in DeepExplain (see the module docstring):
    L.MaxPooling1D,
    L.MaxPooling2D,
    L.MaxPooling3D,
    L.GlobalMaxPooling1D,
    L.GlobalMaxPooling2D,
    L.GlobalMaxPooling3D,
)
"""Layers kept (shared) in the modified model: linear in their input at inference, or max pooling."""


Activation = Callable[[Any], Any]
"""An elementwise function of a tensor (TensorFlow is untyped here: tensors are Any)."""


class UnsupportedLayerError(ValueError):
    """A layer whose nonlinearity the modified-gradient rules cannot handle."""


# ------------------------------------------------------------------------ gradient rules


def _elementwise_derivative(fn: Activation, z: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = fn(z)
    return tape.gradient(y, z)


def elrp_activation(fn: Activation, epsilon: float) -> Activation:
    """``fn`` whose gradient is ``f(z) / (z + eps * s(z))`` (DeepExplain's eps-LRP)."""

    def forward(z: tf.Tensor) -> tuple[tf.Tensor, Activation]:
        y = fn(z)

        def grad(dy: tf.Tensor) -> tf.Tensor:
            sign = tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))
            return dy * y / (z + epsilon * sign)

        return y, grad

    modified: Activation = tf.custom_gradient(forward)
    return modified


def rescale_activation(fn: Activation, threshold: float) -> Activation:
    """``fn`` on a batch ``[x; x0]`` whose gradient for the ``x`` half is DeepLIFT's
    Rescale multiplier against the ``x0`` half (the reference half gets zero gradient)."""

    def forward(z: tf.Tensor) -> tuple[tf.Tensor, Activation]:
        y = fn(z)

        def grad(dy: tf.Tensor) -> tf.Tensor:
            n = tf.shape(z)[0] // 2
            zx, zr, yx, yr = z[:n], z[n:], y[:n], y[n:]
            dz = zx - zr
            big = tf.abs(dz) > threshold
            ratio = (yx - yr) / tf.where(big, dz, tf.ones_like(dz))
            instant = _elementwise_derivative(fn, 0.5 * (zx + zr))
            mult = tf.where(big, ratio, instant)
            return tf.concat([dy[:n] * mult, tf.zeros_like(zr)], axis=0)

        return y, grad

    modified: Activation = tf.custom_gradient(forward)
    return modified


def _modified(fn: Activation, rule: str, epsilon: float, threshold: float) -> Activation:
    if rule == "elrp":
        return elrp_activation(fn, epsilon)
    if rule == "rescale":
        return rescale_activation(fn, threshold)
    raise ValueError(f"rule must be one of {RULES[1:]} for a modified activation; got {rule!r}")


class ModifiedActivation(keras.layers.Layer):  # type: ignore[misc]  # Keras is untyped: its Layer is Any
    """Forward: ``fn``. Backward: the ``rule``'s modified gradient."""

    def __init__(self, fn: Activation, rule: str, epsilon: float, threshold: float, source: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.fn, self.rule, self.epsilon, self.threshold, self.source = fn, rule, epsilon, threshold, source

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return _modified(self.fn, self.rule, self.epsilon, self.threshold)(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class SplitFusedActivation(keras.layers.Layer):  # type: ignore[misc]  # Keras is untyped: its Layer is Any
    """A layer with a fused activation, as its linear part (weights copied when the clone is
    built) + a :class:`ModifiedActivation`."""

    def __init__(self, source: keras.layers.Layer, rule: str, epsilon: float, threshold: float, **kwargs: Any):
        super().__init__(**kwargs)
        config = {**source.get_config(), "activation": "linear", "name": f"{source.name}_linear"}
        self.linear = type(source).from_config(config)
        self.act = ModifiedActivation(source.activation, rule, epsilon, threshold, source=source.name, name=f"{source.name}_act")
        self._source_weights = tuple(source.get_weights())  # a copy, not a tracked sub-layer

    def build(self, input_shape: Any) -> None:
        self.linear.build(input_shape)
        self.linear.set_weights(list(self._source_weights))
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return self.act(self.linear(inputs))


# ------------------------------------------------------------------------ model conversion


def _activation_name(fn: object) -> str:
    if isinstance(fn, str):
        return fn
    name: str = getattr(fn, "__name__", type(fn).__name__)
    return name


def _describe(layer: keras.layers.Layer) -> str:
    return f"layer {layer.name!r} ({type(layer).__name__})"


def convert_model(model: keras.Model, rule: str, epsilon: float = 1e-4, threshold: float = RESCALE_THRESHOLD) -> keras.Model:
    """A clone of ``model`` whose nonlinearities back-propagate with ``rule``."""
    if rule not in ("elrp", "rescale"):
        raise ValueError(f"convert_model rule must be 'elrp' or 'rescale'; got {rule!r}")

    def act(fn: Activation, layer: keras.layers.Layer) -> ModifiedActivation:
        return ModifiedActivation(fn, rule, epsilon, threshold, source=layer.name, name=f"{layer.name}_{rule}")

    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.Model):
            return convert_model(layer, rule, epsilon, threshold)
        if isinstance(layer, ACTIVATION_LAYERS):
            return act(layer.call, layer)
        if isinstance(layer, L.Activation):
            name = _activation_name(layer.activation)
            if name in LINEAR_ACTIVATIONS:
                return layer
            if name in ELEMENTWISE_ACTIVATIONS:
                return act(layer.activation, layer)
            raise UnsupportedLayerError(
                f"{_describe(layer)} has activation {name!r}, which is not an elementwise function the "
                f"modified-gradient rule {rule!r} supports (supported: {sorted(ELEMENTWISE_ACTIVATIONS)}). "
                "A softmax must not be part of the model: it has to output pre-softmax logits."
            )
        if isinstance(layer, PASS_THROUGH):
            fused = getattr(layer, "activation", None)
            if fused is None or _activation_name(fused) in LINEAR_ACTIVATIONS:
                return layer
            name = _activation_name(fused)
            if name in ELEMENTWISE_ACTIVATIONS:
                return SplitFusedActivation(layer, rule, epsilon, threshold, name=f"{layer.name}_{rule}")
            raise UnsupportedLayerError(
                f"{_describe(layer)} has a fused activation {name!r} that the rule {rule!r} cannot handle "
                f"(supported: {sorted(ELEMENTWISE_ACTIVATIONS)})."
            )
        raise UnsupportedLayerError(
            f"{_describe(layer)} is not supported by the modified-gradient rule {rule!r}: it is neither a "
            "known linear layer, max pooling, nor an elementwise activation (ReLU, ReLU(max_value=6), "
            "Activation('relu'/'sigmoid'/...), LeakyReLU, ELU). Layers with weights inside a nonlinearity "
            "(PReLU), multiplicative gates (Multiply, squeeze-excite), Lambda/TF-op layers and "
            "normalisations over a sample (LayerNormalization, Softmax) are not handled. "
            "The ordinary gradient (sensitivity, intgrad) works on any differentiable model."
        )

    return keras.models.clone_model(model, clone_function=clone_layer)


# ------------------------------------------------------------------------ the engine


class GradientEngine:
    """Batched, compiled (modified) gradients of the target logits w.r.t. model input."""

    def __init__(
        self, keras_model: keras.Model, rule: str = "gradient", epsilon: float = 1e-4, threshold: float = RESCALE_THRESHOLD
    ):
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}; got {rule!r}")
        self.rule = rule
        self.model = keras_model if rule == "gradient" else convert_model(keras_model, rule, epsilon, threshold)
        shape = [None, *keras_model.input_shape[1:]]
        x_spec = tf.TensorSpec(shape, tf.float32)
        t_spec = tf.TensorSpec([None], tf.int32)
        if rule == "rescale":
            self._fn = tf.function(self._paired_gradient, input_signature=[x_spec, x_spec, t_spec])
        else:
            self._fn = tf.function(self._gradient, input_signature=[x_spec, t_spec])

    def _gradient(self, x: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = self.model(x, training=False)
            selected = tf.gather(logits, targets, axis=1, batch_dims=1)
        return tape.gradient(selected, x), selected

    def _paired_gradient(self, x: tf.Tensor, x0: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        n = tf.shape(x)[0]
        both = tf.concat([x, x0], axis=0)
        with tf.GradientTape() as tape:
            tape.watch(both)
            logits = self.model(both, training=False)
            selected = tf.gather(logits[:n], targets, axis=1, batch_dims=1)
        reference = tf.gather(logits[n:], targets, axis=1, batch_dims=1)
        return tape.gradient(selected, both)[:n], selected, reference

    def gradients(self, x: npt.ArrayLike, targets: npt.ArrayLike, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """(gradients like ``x``, target logits f(x)) for input-space ``x``, for the rules
        ``gradient`` and ``elrp`` (``rescale`` compares with references: :meth:`paired_gradients`)."""
        if self.rule == "rescale":
            raise ValueError("rule 'rescale' needs the references x0: use paired_gradients(x, x0, targets)")
        xs, ts = self._check(x, targets, batch_size)
        grads, logits = [], []
        for i in range(0, len(xs), batch_size):
            sl = slice(i, i + batch_size)
            g, f = self._fn(tf.constant(xs[sl]), tf.constant(ts[sl]))
            grads.append(g.numpy())
            logits.append(f.numpy())
        return np.concatenate(grads), np.concatenate(logits)

    def paired_gradients(
        self, x: npt.ArrayLike, x0: npt.ArrayLike, targets: npt.ArrayLike, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(modified gradients like ``x``, target logits f(x), target logits f(x0)) for the rule
        ``rescale``; ``x0`` (the references) broadcasts to ``x``'s shape."""
        if self.rule != "rescale":
            raise ValueError(f"paired_gradients is for the rule 'rescale'; this engine's rule is {self.rule!r}: use gradients()")
        xs, ts = self._check(x, targets, batch_size)
        refs_in = np.broadcast_to(np.asarray(x0, np.float32), xs.shape)
        grads, logits, refs = [], [], []
        for i in range(0, len(xs), batch_size):
            sl = slice(i, i + batch_size)
            g, f, r = self._fn(tf.constant(xs[sl]), tf.constant(np.ascontiguousarray(refs_in[sl])), tf.constant(ts[sl]))
            grads.append(g.numpy())
            logits.append(f.numpy())
            refs.append(r.numpy())
        return np.concatenate(grads), np.concatenate(logits), np.concatenate(refs)

    @staticmethod
    def _check(x: npt.ArrayLike, targets: npt.ArrayLike, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(float32 inputs, int32 targets, one per input), or a ValueError."""
        xs = np.asarray(x, np.float32)
        ts = np.asarray(targets, np.int32).reshape(-1)
        if len(ts) != len(xs):
            raise ValueError(f"{len(ts)} targets for {len(xs)} inputs")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        return xs, ts


_ENGINES: weakref.WeakKeyDictionary[object, dict[tuple[str, float | None, float | None], GradientEngine]] = (
    weakref.WeakKeyDictionary()
)


def get_engine(
    model: object, rule: str = "gradient", epsilon: float = 1e-4, threshold: float = RESCALE_THRESHOLD
) -> GradientEngine:
    """A cached :class:`GradientEngine` for a ``ModelWrapper`` (or a bare Keras model):
    the clone and its compiled function are reused while ``model`` lives.

    The cache is keyed on the object passed; pass the wrapper (the engine references only
    its Keras model, so the entry goes when the wrapper does).
    """
    keras_model = getattr(model, "keras_model", model)
    key = (rule, float(epsilon) if rule == "elrp" else None, float(threshold) if rule == "rescale" else None)
    per_model = _ENGINES.setdefault(model, {})
    if key not in per_model:
        per_model[key] = GradientEngine(keras_model, rule, epsilon, threshold)
    return per_model[key]
