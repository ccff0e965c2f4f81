"""Model-parameter randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps").

A saliency map that explains the model should change when the model's learned weights are
replaced by random ones. This module makes the randomised models; ``bench/studies/sanity/``
explains them and compares the maps.

**Groups (what one step randomises).** Quantus's MPRT randomises one Keras layer with
weights per step; EfficientNet-Lite0 has 100 such layers, too many explanation passes for a
slow method. :func:`layer_groups` gathers the weighted layers into groups, listed top first
(the logits first, the stem last):

* ``"layer"``: every Keras layer with weights is its own group (Quantus's steps);
* ``"block"``: consecutive weighted layers whose names share the block prefix
  (``block3a_expand_conv``, ``block3a_dwconv_bn``, ... -> ``block3a``; ``conv4_block2_1_conv``
  -> ``conv4_block2``; other names: the text before the first ``_``, so ``stem_conv`` and
  ``stem_bn`` -> ``stem``, ``logits`` -> ``logits``);
* ``"stage"`` (the default): as ``"block"``, with the block letter or number dropped
  (``block3a`` and ``block3b`` -> ``block3``; ``conv4_block2`` -> ``conv4``). For
  EfficientNet-Lite0: logits, head, block7, block6, block5, block4, block3, block2, block1,
  stem (10 steps; ``"block"``: 19). Keras applications: ResNet50 conv1..conv5 and predictions
  (6 stages, 18 blocks), VGG16 block1..block5, fc1, fc2, predictions (8).

In ``"block"`` and ``"stage"``, a normalisation layer (batch/layer normalisation) that comes
right after a weighted layer of another name (``conv1``, ``bn1``) joins that layer's group.
Where most weighted layers have the names Keras makes up (``conv2d_12``,
``batch_normalization_12``: Inception V3), names tell nothing, and the groups are the segments
between the graph's cut points (:func:`models.layers.cut_points`), a normalisation-only segment
joining the one before it: for Inception V3 predictions, mixed10 .. mixed0 and the stem's five
convolutions (17 steps).

**Steps.** Step 0 is the original model. *Cascading* step s (Adebayo's main test) has the
top s groups randomised and the rest original; the last step is the fully randomised
model. *Independent* step s has group s alone randomised.

**Rules (what randomising a layer means).**

* ``"shuffle"`` (the default): every weight array's entries are permuted at random (all
  axes together; the convolution kernels, biases and batch-normalisation parameters and
  statistics each on their own). The learned structure is gone, but each array keeps its
  values, so activations and logits stay at the trained model's scale. Each array gets its
  own seed, derived from (``seed``, the layer's name, the array's index), so a layer's random
  weights are the same in every mode, granularity and run.
* ``"reinit"``: every weight array is drawn again from the layer's own Keras initializer
  (``kernel_initializer``, ``depthwise_initializer``, ``bias_initializer``,
  ``gamma_initializer``, ``moving_variance_initializer``, ...), the weights a freshly built
  model starts from (Adebayo et al. re-initialise), seeded as above; batch normalisation
  becomes the identity (gamma 1, beta 0, mean 0, variance 1). A weight with no initializer
  attribute is shuffled instead and named in :attr:`ParameterRandomiser.fallbacks`. Not the
  default: on EfficientNet-Lite0 the signal vanishes through re-initialised layers (Keras's
  Glorot initializer counts every channel of a depthwise kernel in its fan-in, so each
  re-initialised stage shrinks the activations about 20-fold): the fully re-initialised
  model's logits have a standard deviation of ~1e-12 (the original's: ~1.2), which tests the
  methods' absolute thresholds (DeepLIFT's 1e-5, epsilon-LRP's 1e-4) more than their
  dependence on the weights.
* ``"permute"``: Quantus 0.6.0's TensorFlow rule (``TensorFlowModel.get_random_layer_generator``),
  reproduced exactly for the cross-check: for each layer ``np.random.seed(seed + 1)`` and then
  ``np.random.permutation(w)`` of each weight array in turn. ``np.random.permutation`` shuffles
  along the first axis only, so a 1x1 convolution's kernel (1, 1, C_in, C_out) is left as it
  was, and a 3x3 kernel only has its three rows reordered: on EfficientNet-Lite (whose expand,
  project and head convolutions are 1x1) most weights do not change. Not the default either.

The original model is never modified: randomised models are ``keras.models.clone_model``
copies given the original weights, then randomised in place (one clone serves every step:
the cascade is applied incrementally, an independent step restores the previous group).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .keras_api import keras
from .keras_classifier import ModelWrapper
from .layers import cut_points
from .randomisation_settings import GRANULARITIES, MODES, RULES

NORMALISATION = ("BatchNormalization", "LayerNormalization", "GroupNormalization")

_BLOCK = re.compile(r"^(?P<stage>.*?block\d+)(?P<sub>[a-z]?)(?:_|$)")
_INITIALIZER_OF = {
    "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer",
    "recurrent_kernel": "recurrent_initializer",
}


@dataclass(frozen=True)
class Group:
    """The weighted Keras layers one step randomises."""

    name: str
    layers: tuple[str, ...]


def weighted_layers(keras_model: Any) -> list[Any]:
    """The model's top-level layers that hold weights, in the model's order (a nested model
    counts as one layer, as in Quantus)."""
    return [layer for layer in keras_model.layers if layer.weights]


def _name_keys(name: str) -> tuple[str, str]:
    """(block key, stage key) of a layer name."""
    match = _BLOCK.match(name)
    if match:
        block = match.group("stage") + match.group("sub")
        stage = match.group("stage")
        if re.search(r"_block\d+$", stage):  # ResNet: conv4_block2 -> conv4
            stage = re.sub(r"_block\d+$", "", stage)
        return block, stage
    key = name.split("_")[0] if "_" in name else name
    return key, key


def layer_groups(keras_model: Any, granularity: str = "stage") -> list[Group]:
    """The randomisation groups of ``keras_model``, top (output side) first; see the module docstring."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}; got {granularity!r}")
    layers = weighted_layers(keras_model)
    if not layers:
        raise ValueError(f"model {keras_model.name!r} has no layers with weights")
    if granularity == "layer":
        return [Group(layer.name, (layer.name,)) for layer in reversed(layers)]
    position = {layer.name: k for k, layer in enumerate(keras_model.layers)}
    groups: list[tuple[str, list[str]]] = []
    previous = None
    for layer in layers:
        key = _name_keys(layer.name)[0 if granularity == "block" else 1]
        joins = groups and (
            key == groups[-1][0]
            or (type(layer).__name__ in NORMALISATION and previous is not None and position[layer.name] == position[previous] + 1)
        )
        if joins:
            groups[-1][1].append(layer.name)
        else:
            groups.append((key, [layer.name]))
        previous = layer.name
    if sum(map(_automatic_name, layers)) > len(layers) / 2:
        groups = _cut_point_groups(keras_model, layers)
    return [Group(name, tuple(members)) for name, members in reversed(_unique_names(groups))]


def _automatic_name(layer: Any) -> bool:
    """Whether the layer has the name Keras makes up (``conv2d_12``: its class in snake case, numbered)."""
    cls = type(layer).__name__
    snake = re.sub("([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", cls)).lower()
    return re.fullmatch(rf"{re.escape(snake)}(_\d+)?", layer.name) is not None


def _cut_point_groups(keras_model: Any, layers: list[Any]) -> list[tuple[str, list[str]]]:
    position = {layer.name: k for k, layer in enumerate(keras_model.layers)}
    cuts = sorted((position[c] for c in cut_points(keras_model)), reverse=False)
    names = [layer.name for layer in keras_model.layers]
    groups: list[tuple[str, list[str]]] = []
    for layer in layers:
        at = position[layer.name]
        end = next((c for c in cuts if c >= at), len(names) - 1)
        name = names[end]
        if groups and groups[-1][0] == name:
            groups[-1][1].append(layer.name)
        else:
            groups.append((name, [layer.name]))
    kinds = {layer.name: type(layer).__name__ for layer in layers}
    merged: list[tuple[str, list[str]]] = []
    for name, members in groups:
        if merged and all(kinds[m] in NORMALISATION for m in members):
            merged[-1][1].extend(members)
        else:
            merged.append((name, members))
    return merged


def _unique_names(groups: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    seen: dict[str, int] = {}
    out: list[tuple[str, list[str]]] = []
    for name, members in groups:
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}#{seen[name]}", members))
    return out


def derived_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed from ``seed`` and names/indices (stable across runs and platforms)."""
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0] % (2**31 - 1))


class ParameterRandomiser:
    """Randomised copies of ``model`` (a :class:`models.ModelWrapper`), group by group.

    ``groups`` (optional) overrides :func:`layer_groups`. ``fallbacks`` lists the weights that
    the ``"reinit"`` rule shuffled because their layer names no initializer for them.
    """

    def __init__(
        self,
        model: ModelWrapper,
        granularity: str = "stage",
        rule: str = "shuffle",
        seed: int = 0,
        groups: list[Group] | None = None,
    ):
        if rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
        self.model, self.granularity, self.rule, self.seed = model, granularity, rule, int(seed)
        self.groups = list(groups) if groups is not None else layer_groups(model.keras_model, granularity)
        known = {layer.name for layer in weighted_layers(model.keras_model)}
        for group in self.groups:
            unknown = [n for n in group.layers if n not in known]
            if unknown:
                raise ValueError(f"group {group.name!r}: model {model.name!r} has no weighted layer {unknown}")
        self.fallbacks: list[str] = []
        self._random_cache: dict[str, list[np.ndarray]] = {}

    @property
    def steps(self) -> int:
        """The number of randomisation steps (step 0, the original, not counted)."""
        return len(self.groups)

    def step_names(self) -> list[str]:
        """Step 0's name ("original"), then each group's."""
        return ["original"] + [g.name for g in self.groups]

    # -------------------------------------------------------------- random weights

    def random_weights(self, layer: Any) -> list[np.ndarray]:
        """The randomised weights of ``layer`` (a layer of the original model or of a clone)."""
        if self.rule == "permute":
            rng = np.random.RandomState(self.seed + 1)  # np.random.seed(seed + 1) in Quantus, for every layer
            return [rng.permutation(w) for w in layer.get_weights()]
        if layer.name not in self._random_cache:
            self._random_cache[layer.name] = self._reinit(layer) if self.rule == "reinit" else self._shuffle(layer)
        return [w.copy() for w in self._random_cache[layer.name]]

    def _shuffle(self, layer: Any) -> list[np.ndarray]:
        return [
            np.random.default_rng(derived_seed(self.seed, layer.name, k)).permutation(w.ravel()).reshape(w.shape)
            for k, w in enumerate(layer.get_weights())
        ]

    def _reinit(self, layer: Any) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for k, variable in enumerate(layer.weights):
            seed = derived_seed(self.seed, layer.name, k)
            shape, dtype = tuple(variable.shape), variable.dtype.as_numpy_dtype
            base = variable.name.split("/")[-1].split(":")[0]
            initializer = getattr(layer, _INITIALIZER_OF.get(base, f"{base}_initializer"), None)
            if initializer is None:
                self.fallbacks.append(f"{layer.name}/{base}")
                values = np.random.default_rng(seed).permutation(variable.numpy().ravel()).reshape(shape)
            else:
                config = initializer.get_config()
                if "seed" in config:
                    initializer = type(initializer).from_config({**config, "seed": seed})
                values = np.asarray(initializer(shape=shape, dtype=variable.dtype))
            out.append(values.astype(dtype))
        return out

    # -------------------------------------------------------------- models

    def clone(self) -> ModelWrapper:
        """A copy of the original model with its own variables, holding the original weights."""
        original = self.model.keras_model
        copy = keras.models.clone_model(original)
        copy.set_weights(original.get_weights())
        return ModelWrapper(
            name=self.model.name,
            keras_model=copy,
            preprocess=self.model.preprocess,
            preprocessing=self.model.preprocessing,
            weights=f"{self.model.weights}; parameter-randomised copy ({self.rule}, seed {self.seed})",
            weights_sha256=None,
        )

    def _randomise(self, wrapper: ModelWrapper, group: Group) -> None:
        for name in group.layers:
            self._set_random(wrapper.keras_model.get_layer(name), self.model.keras_model.get_layer(name))

    def _set_random(self, target: Any, source: Any) -> None:
        if isinstance(source, keras.Model) and self.rule != "permute":  # a nested model: each of its layers
            for sub in source.layers:
                if sub.weights:
                    self._set_random(target.get_layer(sub.name), sub)
            return
        target.set_weights(self.random_weights(source))

    def _restore(self, wrapper: ModelWrapper, group: Group) -> None:
        for name in group.layers:
            wrapper.keras_model.get_layer(name).set_weights(self.model.keras_model.get_layer(name).get_weights())

    def iterate(self, mode: str = "cascading", wrapper: ModelWrapper | None = None) -> Iterator[tuple[int, Group, ModelWrapper]]:
        """Yield (step, group, model) for steps 1..S. One clone serves every step and is changed
        in place between yields, so use each model before asking for the next. ``wrapper``: a
        clone made earlier (by :meth:`clone`, still holding the original weights)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        wrapper = wrapper or self.clone()
        previous = None
        for step, group in enumerate(self.groups, start=1):
            if mode == "independent" and previous is not None:
                self._restore(wrapper, previous)
            self._randomise(wrapper, group)
            previous = group
            yield step, group, wrapper

    def randomised(self, step: int, mode: str = "cascading") -> ModelWrapper:
        """A new copy of the model at ``step`` (0: the original weights)."""
        if not 0 <= step <= self.steps:
            raise ValueError(f"step must be in 0..{self.steps}; got {step}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        wrapper = self.clone()
        chosen = self.groups[:step] if mode == "cascading" else self.groups[step - 1 : step] if step else []
        for group in chosen:
            self._randomise(wrapper, group)
        return wrapper

    def describe(self) -> dict[str, Any]:
        """JSON-able settings: rule, seed, granularity and the groups."""
        return {
            "rule": self.rule,
            "seed": self.seed,
            "granularity": self.granularity,
            "groups": [{"name": g.name, "layers": list(g.layers)} for g in self.groups],
            "fallbacks": sorted(set(self.fallbacks)),
        }
