"""What every saliency method is: a class with a name, typed parameters, metadata, and
``attribute``.

A method receives a :class:`models.Classifier`, uint8 images at the model's input size
and target classes, and returns an :class:`Attribution`: the raw attributions, the
per-pixel relevance (N, H, W) (below: its sign convention), and per-image diagnostics and series.
Parameters are declared as :class:`Param` and checked when the method is built, before
any model loads. Subclasses implement :meth:`SaliencyMethod.attribute`;
:meth:`SaliencyMethod.explain` validates inputs and targets and times the call.

Relevance sign (one convention for the whole suite): a method that declares
``signed = True`` returns relevance whose sign means evidence for (+) or against (-) the
target class. MoRF ranks pixels by descending *signed* relevance (strongest positive
evidence first) and LeRF by ascending (strongest negative evidence first); the grayscale
map that PNG size and SSIM measure is abs(relevance). An unsigned method
(``signed = False``) returns relevance >= 0 ("how much"), so the same rules apply with
abs as the identity; a negative value from it is an error.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from common.errors import MethodOutputError, ParameterError
from models.interface import Classifier

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Param:
    """One parameter: its default, its kind and its allowed values.

    ``kind`` is ``int``, ``float``, ``bool``, ``str`` or ``None`` (any value, checked by
    ``check``); it is inferred from the default when omitted. ``optional``: None is
    allowed too. ``low``/``high``: inclusive bounds, ``positive``: > 0.
    """

    default: Any
    kind: type | object | None = _NO_DEFAULT
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    positive: bool = False
    optional: bool = False
    check: Callable[[Any], Any] | None = None
    """Extra validation: returns the (possibly converted) value or raises ValueError."""

    def resolved_kind(self) -> type | object | None:
        """``kind``, or the kind of the default when ``kind`` was omitted."""
        if self.kind is not _NO_DEFAULT:
            return self.kind
        default = self.default
        if isinstance(default, bool):
            return bool
        if isinstance(default, (int, np.integer)):
            return int
        if isinstance(default, (float, np.floating)):
            return float
        if isinstance(default, str):
            return str
        return None

    def validate(self, method: str, name: str, value: Any) -> Any:
        """``value`` checked and converted to the kind (a :class:`ParameterError` naming
        ``method.name`` when it does not fit)."""
        where = f"{method}.{name}"
        if value is None and (self.optional or self.default is None):
            return None
        value = self._convert(where, value)
        self._check_range(where, value)
        if self.check is not None:
            try:
                value = self.check(value)
            except (TypeError, ValueError) as err:
                raise ParameterError(f"{where}: {err}") from None
        return value

    def _convert(self, where: str, value: Any) -> Any:
        """``value`` as the parameter's kind, or a ParameterError."""
        kind = self.resolved_kind()
        if kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ParameterError(f"{where} must be True or False; got {value!r}")
            value = bool(value)
        elif kind is int:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise ParameterError(f"{where} must be {'a positive integer' if self.low == 1 else 'an integer'}; got {value!r}")
            value = int(value)
            if self.low == 1 and value < 1:
                raise ParameterError(f"{where} must be a positive integer; got {value!r}")
        elif kind is float:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ParameterError(f"{where} must be a number; got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ParameterError(f"{where} must be finite; got {value!r}")
        elif kind is str:
            if not isinstance(value, str):
                raise ParameterError(f"{where} must be a string; got {value!r}")
        return value

    def _check_range(self, where: str, value: Any) -> None:
        """``choices``, ``positive``, ``low`` and ``high``."""
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{where} must be one of {', '.join(map(repr, self.choices))}; got {value!r}")
        if self.positive and not value > 0:
            raise ParameterError(f"{where} must be > 0; got {value!r}")
        if self.low is not None and not value >= self.low:
            raise ParameterError(f"{where} must be >= {self.low}; got {value!r}")
        if self.high is not None and not value <= self.high:
            raise ParameterError(f"{where} must be <= {self.high}; got {value!r}")


class ConstantMapWarning(UserWarning):
    """A method returned a map whose pixels are all equal: its curves rank pixels at random."""


MAX_BATCH_SIZE = 4096
"""Images per model call at most: a 224x224 float32 batch of 4,096 is 2.5 GB of input alone."""


def batch_size_param(default: int) -> Param:
    return Param(default, int, "images (or interpolated inputs) per model call", low=1, high=MAX_BATCH_SIZE)


@dataclass
class Attribution:
    """What :meth:`SaliencyMethod.attribute` returns."""

    attributions: np.ndarray
    """The raw output, in the method's ``attribution_space``."""
    relevance: np.ndarray
    """(N, H, W): one value per pixel (the sign convention: the module docstring)."""
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-image scalars, each of shape (N,) (e.g. Noise Mask's preservation); runs store them."""
    series: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-image arrays, each (N, T), NaN-padded at the end (e.g. Noise Mask's objective trace)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Anything else about the call (JSON-able), e.g. the backend used."""


@dataclass
class Explanation:
    method: str
    relevance: np.ndarray
    """float32 (N, H, W): one relevance value per pixel (the sign convention: the module docstring)."""
    attributions: np.ndarray
    """The method's raw output (e.g. (N, H, W, 3) for gradient methods, the mask for noise_mask)."""
    params: dict[str, Any]
    targets: np.ndarray
    seconds: float = 0.0
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)
    series: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelCosts:
    """Measured seconds per image of one forward and one forward+backward pass."""

    forward: float
    backward: float
    input_size: tuple[int, int]


class SaliencyMethod:
    """Base class. Subclasses set ``name``, ``parameters`` (or the older ``defaults``
    dict, whose kinds are then inferred from the default values), the metadata below,
    and implement :meth:`attribute`."""

    name: str
    """Set on the class; :func:`methods.registry.build_method` sets it on an instance built
    under an alias (``perturbation``), which keeps that name in the results."""
    parameters: ClassVar[dict[str, Param]] = {}
    defaults: ClassVar[dict[str, Any]] = {}
    """Every parameter's default; derived from ``parameters``."""
    signed: ClassVar[bool] = True
    """Whether relevance carries a sign (see the module docstring for the convention)."""
    attribution_space: ClassVar[str] = "pixel"
    """Where the raw attributions live: ``"input"`` (the model's preprocessed input,
    (N, H, W, C)), ``"pixel"`` (one value per pixel, (N, H, W)) or ``"mask"`` (a mask in
    [0, 1] per pixel)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "parameters" not in cls.__dict__ and "defaults" in cls.__dict__:
            cls.parameters = {k: Param(v) for k, v in cls.defaults.items()}
        cls.defaults = {k: p.default for k, p in cls.parameters.items()}

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.parameters)
        if unknown:
            raise ParameterError(
                f"method {self.name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(self.parameters)}"
            )
        given = {**self.defaults, **params}
        self.params = {k: self.parameters[k].validate(self.name, k, v) for k, v in given.items()}

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        """The method's self-description, as run.json records it."""
        return {"signed": cls.signed, "attribution_space": cls.attribution_space}

    def attribute(self, model: Classifier, images: np.ndarray, targets: np.ndarray) -> Attribution:
        raise NotImplementedError

    def estimate_seconds(self, costs: ModelCosts) -> float:
        """Rough seconds per image, from the model's measured pass costs (run estimates)."""
        return 2 * costs.backward

    def explain(self, model: Classifier, images: np.ndarray, targets: npt.ArrayLike | None = None) -> Explanation:
        images = model.check_images(images)
        if targets is None:
            targets = model.top1(images)
        targets = np.asarray(targets, dtype=np.int64).reshape(-1)
        if len(targets) != len(images):
            raise ValueError(f"got {len(targets)} targets for {len(images)} images")
        if targets.min(initial=0) < 0 or targets.max(initial=0) >= model.num_classes:
            raise ValueError(f"targets must be class indices in [0, {model.num_classes}); got {targets}")
        images = images.view()
        images.setflags(write=False)  # one array serves every method: none may change it for the next
        start = time.perf_counter()
        try:
            result = self.attribute(model, images, targets)
        except ValueError as err:
            if "read-only" in str(err):
                raise ValueError(
                    f"method {self.name!r} wrote into its input images, which are read-only so that it cannot change "
                    f"them for the methods after it; copy them first (np.array(images)): {err}"
                ) from err
            raise
        seconds = time.perf_counter() - start
        if not isinstance(result, Attribution):
            raise TypeError(f"method {self.name!r}: attribute() must return an Attribution; got {type(result).__name__}")
        relevance = self._checked_relevance(result, images)
        return Explanation(
            self.name,
            relevance,
            np.asarray(result.attributions),
            dict(self.params),
            targets,
            seconds,
            dict(result.diagnostics),
            dict(result.series),
            dict(result.info),
        )

    def _checked_relevance(self, result: Attribution, images: np.ndarray) -> np.ndarray:
        """``result``'s relevance as float32, checked: its shape, finite values (else
        :class:`common.errors.MethodOutputError`), no negative values from an unsigned method, the
        rows of its diagnostics and series; a constant map is a :class:`ConstantMapWarning`."""
        relevance = np.asarray(result.relevance, dtype=np.float32)
        if relevance.shape != images.shape[:3]:
            raise ValueError(
                f"method {self.name!r} returned relevance of shape {relevance.shape}; expected (N, H, W) = {images.shape[:3]}"
            )
        bad = np.asarray(~np.isfinite(relevance).all(axis=(1, 2)))
        if bad.any():
            raise MethodOutputError(
                f"method {self.name!r} returned NaN or infinite relevance for {int(bad.sum())} of {len(bad)} images "
                f"(the first: image {int(np.argmax(bad))} of the batch); no map of it is stored"
            )
        flat = relevance.reshape(len(relevance), -1)
        constant = np.asarray((flat == flat[:, :1]).all(axis=1))
        if constant.any():
            warnings.warn(
                f"method {self.name!r} returned a constant map (all pixels {float(flat[int(np.argmax(constant)), 0]):g}) "
                f"for {int(constant.sum())} of {len(constant)} images: its MoRF and LeRF orders are random there",
                ConstantMapWarning,
                stacklevel=3,
            )
        if not self.signed and (relevance < 0).any():
            raise ValueError(f"method {self.name!r} declares unsigned relevance but returned negative values")
        n = len(images)
        for kind, entries, ndim in (("diagnostics", result.diagnostics, 1), ("series", result.series, 2)):
            for key, value in entries.items():
                if np.ndim(value) != ndim or len(value) != n:
                    raise ValueError(
                        f"method {self.name!r}: {kind}[{key!r}] must have {n} rows and {ndim} dimension(s); "
                        f"got shape {np.shape(value)}"
                    )
        return relevance
