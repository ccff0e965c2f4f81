"""Which layers of a network the thesis's model discovery (Section 4.3) examines.

The thesis splits each network "into modules on the basis of pooling layers" and examines
six layers: the last layer of the third-last module, the middle and the last layer of the
second-last module, the last two layers of the last module, and the fully connected layer
before the softmax. This module states that rule for any functional Keras model:

1. **Layers** (:func:`units`). A layer of the thesis is a point the whole signal passes
   through: a Keras layer with a 4-D output (N, H, W, C) that is a *cut point* of the layer
   graph (every path from the input to the logits passes through it). Inside a residual or
   Inception block nothing is a cut point, so a block counts as one layer, named by its
   output (``conv4_block3_out``, ``mixed5``), as the thesis's TF-slim end points do; in a
   plain chain (VGG) every convolution is one. A batch normalisation, activation or dropout
   layer that directly follows a layer is merged into it (the unit keeps the name of the last
   of them: ``conv1_conv -> conv1_bn -> conv1_relu`` is the layer ``conv1_relu``); padding
   layers are not layers of their own.
2. **Modules** (:func:`modules`). A layer *down-samples* when its spatial side is at most
   half (rounded up) of the previous layer's (of the input, for the first): what a pooling
   layer or a convolution of stride 2 gives, while the 2 pixels an unpadded 3x3 convolution
   loses do not count. Down-sampling layers separate the modules and belong to none. For
   VGG16 they are exactly the pooling layers (``block1_pool`` .. ``block5_pool``); ResNet50
   and EfficientNet down-sample with strided convolutions, so there the first block of each
   stage (``conv3_block1_out``; EfficientNet's strided depthwise unit ``block4a_dwconv_relu``)
   is the separator; in Inception V3 it is the reduction blocks ``mixed3`` and ``mixed8``.
3. **The six positions** (:func:`discovery_layers`): the last layer of the third-last
   module; the middle (element ``(n - 1) // 2`` of its n layers, the earlier one for even n)
   and the last layer of the second-last module; the last two layers of the last module;
   and the model's output layer, the pre-softmax logits (the suite's models end there).

Resulting choices (architectures of ``keras.applications``, checked by tests/test_discover.py):

* VGG16: block3_conv3, block4_conv2, block4_conv3, block5_conv2, block5_conv3, predictions
* ResNet50: conv3_block4_out, conv4_block4_out, conv4_block6_out, conv5_block2_out,
  conv5_block3_out, predictions
* Inception V3: mixed2, mixed5, mixed7, mixed9, mixed10, predictions
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import InputError

POSITIONS = 6

FOLLOWERS = {
    "BatchNormalization",
    "LayerNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "ThresholdedReLU",
    "Dropout",
    "SpatialDropout2D",
    "GaussianDropout",
    "GaussianNoise",
}
"""Layer classes merged into the layer they follow (they change no shape and add no structure)."""
SKIPPED = {"InputLayer", "ZeroPadding2D"}
"""Layer classes that are never layers of their own."""


@dataclass(frozen=True)
class Unit:
    """One layer in the thesis's sense."""

    name: str
    """The Keras layer whose output it is (the last of a merged chain)."""
    side: tuple[int, int]
    """The output's spatial size (H, W)."""
    downsampling: bool
    """Whether it separates two modules."""


def _graph(keras_model: Any) -> tuple[list[str], dict[str, list[str]], str, dict[str, Any]]:
    """(layer names in a topological order, inbound layer names per layer, output layer name,
    layer objects by name), restricted to the layers the output depends on."""
    try:
        config = keras_model.get_config()
        inbound = {
            entry["name"]: [str(ref[0]) for node in entry.get("inbound_nodes", []) for ref in node] for entry in config["layers"]
        }
        outputs = [ref[0] for ref in config["output_layers"]]
    except (AttributeError, KeyError, TypeError, NotImplementedError) as err:
        raise InputError(
            f"model {keras_model.name!r}: the layer graph of a functional Keras model is needed to pick the layers "
            f"({type(err).__name__}: {err}); give the layers by name (--layers)"
        ) from None
    if len(outputs) != 1:
        raise InputError(f"model {keras_model.name!r} has {len(outputs)} outputs; discovery needs one (the logits)")
    output = outputs[0]
    needed: set[str] = set()
    stack = [output]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(inbound.get(name, []))
    layers = {layer.name: layer for layer in keras_model.layers}
    # Kahn's algorithm, ties broken by the model's own layer order: deterministic
    rank = {name: k for k, name in enumerate(layers)}
    waiting = {name: len(set(inbound.get(name, [])) & needed) for name in needed}
    consumers: dict[str, list[str]] = {name: [] for name in needed}
    for name in needed:
        for src in set(inbound.get(name, [])) & needed:
            consumers[src].append(name)
    ready = sorted((n for n, count in waiting.items() if count == 0), key=rank.__getitem__)
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for nxt in consumers[name]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
        ready.sort(key=rank.__getitem__)
    return order, {n: [s for s in inbound.get(n, []) if s in needed] for n in order}, output, layers


def cut_points(keras_model: Any) -> list[str]:
    """Layers every path from the input to the output passes through, in order."""
    order, inbound, _, _ = _graph(keras_model)
    return _cut_points(order, inbound)


def _cut_points(order: list[str], inbound: dict[str, list[str]]) -> list[str]:
    """In a topological order, a layer is a cut point exactly when no edge jumps over it (from a
    layer before it to a layer after it): such an edge would give a path around it."""
    position = {name: k for k, name in enumerate(order)}
    longest = dict.fromkeys(order, 0)  # the farthest position an edge out of each layer goes to
    for name in order:
        for src in inbound[name]:
            longest[src] = max(longest[src], position[name])
    farthest = 0  # over the layers before k
    cuts = []
    for k, name in enumerate(order):
        if farthest <= k:
            cuts.append(name)
        farthest = max(farthest, longest[name])
    return cuts


def _spatial(layer: Any) -> tuple[int, int] | None:
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError, TypeError):
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def units(keras_model: Any) -> list[Unit]:
    """The thesis's layers of ``keras_model``, in order (see the module docstring)."""
    order, inbound, output, layers = _graph(keras_model)
    result: list[Unit] = []
    previous_side = _spatial_of_input(keras_model)
    last_name = None  # the Keras layer the previous unit ends with
    for name in _cut_points(order, inbound):
        layer = layers[name]
        side = _spatial(layer)
        kind = type(layer).__name__
        if name == output or side is None or kind in SKIPPED:
            continue
        if result and kind in FOLLOWERS and inbound[name] == [last_name] and side == result[-1].side:
            result[-1] = Unit(name, side, result[-1].downsampling)
        else:
            down = previous_side is not None and all(s <= -(-p // 2) for s, p in zip(side, previous_side))
            result.append(Unit(name, side, down))
        previous_side, last_name = side, name
    return result


def _spatial_of_input(keras_model: Any) -> tuple[int, int] | None:
    shape = keras_model.input_shape
    if isinstance(shape, list):  # several inputs: the first
        shape = shape[0]
    return (int(shape[1]), int(shape[2])) if len(shape) == 4 and shape[1] and shape[2] else None


def modules(keras_model: Any) -> list[list[str]]:
    """The modules: runs of layers between down-sampling layers (which belong to none)."""
    result: list[list[str]] = [[]]
    for unit in units(keras_model):
        if unit.downsampling:
            if result[-1]:
                result.append([])
        else:
            result[-1].append(unit.name)
    return [m for m in result if m]


def logits_layer(keras_model: Any) -> str:
    """The model's output layer, which must give pre-softmax logits."""
    _, _, output, layers = _graph(keras_model)
    activation = getattr(layers[output], "activation", None)
    if type(layers[output]).__name__ == "Softmax" or getattr(activation, "__name__", "") == "softmax":
        raise InputError(
            f"model {keras_model.name!r} ends in a softmax ({output!r}); Noise Mask compares pre-softmax outputs: "
            "wrap it with models.from_keras(..., logits_layer=NAME)"
        )
    return output


def discovery_layers(keras_model: Any) -> list[str]:
    """The six layers of thesis Section 4.3, positions 1-6 (see the module docstring)."""
    found = modules(keras_model)
    logits = logits_layer(keras_model)
    problem = None
    if len(found) < 3:
        problem = f"it has {len(found)} module(s); the rule needs 3"
    elif len(found[-1]) < 2 or len(found[-2]) < 2:
        problem = "its last two modules need at least 2 layers each"
    if problem:
        listing = "; ".join(f"[{', '.join(m)}]" for m in found) or "none"
        raise InputError(
            f"model {keras_model.name!r}: cannot pick the thesis's six layers: {problem} (modules, split at "
            f"down-sampling: {listing}). Give six layer names instead (--layers NAME,...,NAME)"
        )
    third, second, last = found[-3], found[-2], found[-1]
    return [third[-1], second[(len(second) - 1) // 2], second[-1], last[-2], last[-1], logits]
