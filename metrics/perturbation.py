"""MoRF / LeRF / random pixel-perturbation curves (the thesis, Section 4.2 and Figures 7-8).

At step t (1..T) the pixels at positions ``0 .. t*k-1`` of the ranking (all three
channels; ``k = pixels_per_step``) are replaced; step 0 is the unperturbed image. The
curves record the target class's logit and softmax probability. Two replacements
(:data:`REPLACEMENTS`, the profile setting ``metrics.replacement``):

* ``random-colour`` (the thesis): the same pixels of a per-image colour field, every value
  uniform in [0, 255) (float32, pixel space, continuous like Noise Mask's noise);
* ``road``: ROAD's noisy linear imputation (:mod:`metrics.road`): each removed pixel takes
  the weighted mean of its neighbours, plus seeded noise, so the perturbed image stays
  close to natural images and the removed shape does not show as a patch of noise.

The model's own preprocessing is applied by the wrapper.

The colour field, the tie-breaking permutation and the random order are drawn from
per-image seeds, so they are the same for every method scored on the same image, and
independent of the batch layout. Per image, three independent streams are derived from
the image's seed entropy ``E`` (``(seed, image_index)`` for an int ``seed``, or the
caller's per-image seed): ``SeedSequence(E, spawn_key=(0,))`` draws the colour field,
``spawn_key=(1,)`` the tie-breaking permutation, ``spawn_key=(2,)`` the random order,
``spawn_key=(3,)`` ROAD's imputation noise.

:class:`CurveEvaluator` holds the images, targets and seeds, computes the unperturbed
scores and the random-order curves once, and scores many relevance maps against them.
:func:`perturbation_curves` is the one-call form.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from common import thesis
from common.progress import progress
from models.interface import Classifier, softmax

from .relevance_maps import ORDERS, pixel_ranking
from .road import ImputationCurve

THESIS_STEPS = thesis.CURVE_STEPS
THESIS_PIXELS_PER_STEP = thesis.PIXELS_PER_STEP
THESIS_COVERAGE = thesis.CURVE_COVERAGE

_STREAM_COLOURS, _STREAM_TIES, _STREAM_RANDOM, _STREAM_ROAD = 0, 1, 2, 3

DEFAULT_REPLACEMENT = "random-colour"
REPLACEMENT_TEXT = {
    "random-colour": "removed pixels replaced by uniform random colours in [0, 255], seeded per image (the thesis)",
    "road": "removed pixels imputed by ROAD's noisy linear imputation, seeded per image (Rong et al., ICML 2022)",
}
REPLACEMENTS = tuple(REPLACEMENT_TEXT)
"""How removed pixels are replaced along a curve; the default first."""

ROAD_PROTOCOL_STEPS = 9
ROAD_PROTOCOL_COVERAGE = 0.9
"""ROAD's own protocol, the default grid of every ROAD curve (a run's ``metrics.road_steps`` and
``road_pixels_per_step = "auto"``): removal fractions 10 %, 20 %, ..., 90 % (Rong et al.
evaluate a handful of fractions, not hundreds of steps), i.e. ``steps = 9`` and
``pixels_per_step = pixels_per_step_for(size, 9, 0.9)`` (5018 at 224x224, 8939 at 299x299).
With ``replacement="road"`` it costs 9 imputations and 9 forward passes per curve instead of
100 or 800: less than a 100-step random-colour curve (``benchmarks/bench_road.py``). On the
32-image ``nips17-ci`` run, ABPC from those 9 fractions gives the same claim verdict and
the same ranking of the 6 methods as the 100 steps; 8-10 of the 120 pairwise check verdicts
(Holm-corrected, borderline p) move between decided and indistinguishable
(``bench_road.py --protocol``)."""


def pixels_per_step_for(size: int | Sequence[int], steps: int = THESIS_STEPS, coverage: float = THESIS_COVERAGE) -> int:
    """Pixels per step that cover ``coverage`` of an image of ``size`` in ``steps`` steps.

    ``size``: an int (square) or (H, W). 299 -> 100 (the thesis), 224 -> 56.
    """
    # np.isscalar narrows to numpy's scalar types (not int), hence the Any and the cast
    dims: tuple[Any, ...] = (size, size) if np.isscalar(size) else tuple(cast("Sequence[int]", size))
    h, w = dims
    h, w, steps = int(h), int(w), int(steps)
    if h <= 0 or w <= 0 or steps <= 0:
        raise ValueError(f"size and steps must be positive; got size {(h, w)}, steps {steps}")
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1]; got {coverage}")
    k = max(1, round(float(coverage) * h * w / steps))
    while k > 1 and k * steps > h * w:
        k -= 1
    if k * steps > h * w:
        raise ValueError(f"{steps} steps of one pixel exceed the {h * w} pixels of a {h}x{w} image")
    return k


@dataclass
class Curves:
    """Target-class scores along one pixel order, step 0 (unperturbed) to step T."""

    order: str
    logits: np.ndarray
    """float32 (N, T+1): the target class's logit."""
    probs: np.ndarray
    """float64 (N, T+1): the target class's softmax probability."""
    pixels_per_step: int
    targets: np.ndarray

    @property
    def steps(self) -> int:
        return int(self.logits.shape[1]) - 1


def _image_entropies(seed: int | Sequence[Any], n: int) -> list[tuple[int, ...]]:
    def check(entropy: Iterable[Any], where: str) -> tuple[int, ...]:
        for v in entropy:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"seeds must be non-negative ints; got {v!r} in {where}")
        return tuple(int(v) for v in entropy)

    integer = isinstance(seed, (int, np.integer))
    if isinstance(seed, (bool, np.bool_, str, bytes)) or not (integer or hasattr(seed, "__len__")):
        raise TypeError(f"seed must be an int or a sequence of per-image seeds; got {type(seed).__name__}")
    if isinstance(seed, (int, np.integer)):
        return [check((seed, i), "seed") for i in range(n)]
    if len(seed) != n:
        raise ValueError(f"got {len(seed)} per-image seeds for {n} images")
    out: list[tuple[int, ...]] = []
    for i, s in enumerate(seed):
        entropy = tuple(s) if isinstance(s, (tuple, list, np.ndarray)) else (s,)
        out.append(check(entropy, f"seed[{i}]"))
    return out


class CurveEvaluator:
    """Perturbation curves of many relevance maps on one set of images.

    Holds the images, targets and per-image seeds. The parts every method shares, the
    unperturbed logits (step 0) and the random-order curves, are computed once, on first
    use, and reused; a caller that scores methods in several processes can compute them
    once and pass them in (``unperturbed_logits=``, ``random_curves=``). Perturbed images
    are built incrementally (one running copy per image) and scored through
    ``model.logits`` in batches of ``batch_size`` that span steps and images. Rankings
    and colour fields are drawn per image when needed, so memory does not grow with N
    beyond the images themselves and the curves.

    ``targets``: class per image (None: the top-1 class of the unperturbed image, the
    suite's target, as in the thesis). ``seed``: an int (image ``i`` uses the entropy ``(seed, i)``) or one
    seed per image, each a non-negative int or a tuple of them (e.g. derived from the
    image id, so an image's draws do not depend on which set or position it is in).
    ``replacement``: one of :data:`REPLACEMENTS`.
    """

    def __init__(
        self,
        model: Classifier,
        images: np.ndarray,
        targets: np.ndarray | None = None,
        *,
        pixels_per_step: int,
        steps: int,
        seed: int | Sequence[Any] = 0,
        batch_size: int = 32,
        unperturbed_logits: np.ndarray | None = None,
        random_curves: Curves | None = None,
        replacement: str = DEFAULT_REPLACEMENT,
    ):
        if replacement not in REPLACEMENTS:
            raise ValueError(f"replacement must be one of {', '.join(REPLACEMENTS)}; got {replacement!r}")
        self.replacement = replacement
        self.model = model
        self.images = model.check_images(images)
        n, h, w, _ = self.images.shape
        self.num_pixels = h * w
        for name, v in (("pixels_per_step", pixels_per_step), ("steps", steps), ("batch_size", batch_size)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        if steps * pixels_per_step > h * w:
            raise ValueError(
                f"steps * pixels_per_step = {steps} * {pixels_per_step} = {steps * pixels_per_step} exceeds the "
                f"{h * w} pixels of a {h}x{w} image; see pixels_per_step_for({h}, steps={steps})"
            )
        self.pixels_per_step, self.steps, self.batch_size = int(pixels_per_step), int(steps), int(batch_size)
        self.imputation_seconds = 0.0
        """Seconds spent in ROAD's imputations so far (in a background thread, overlapping the model's passes)."""
        self._entropies = _image_entropies(seed, n)
        self._base: np.ndarray | None = None
        self._random: Curves | None = None
        if unperturbed_logits is not None:
            base = np.asarray(unperturbed_logits, dtype=np.float32)
            if base.shape != (n, model.num_classes):
                raise ValueError(f"unperturbed_logits must have shape {(n, model.num_classes)}; got {base.shape}")
            self._base = base
        if targets is None:
            targets = self.unperturbed_logits().argmax(axis=1)
        targets = np.asarray(targets)
        if targets.shape != (n,) or not np.issubdtype(targets.dtype, np.integer):
            raise ValueError(f"targets must be {n} integer class indices (shape ({n},)); got {targets.dtype} {targets.shape}")
        if n and (targets.min() < 0 or targets.max() >= model.num_classes):
            raise ValueError(f"targets must be in [0, {model.num_classes}); got {targets}")
        self.targets = targets.astype(np.int64)
        if random_curves is not None:
            if (
                random_curves.order != "random"
                or random_curves.logits.shape != (n, self.steps + 1)
                or random_curves.pixels_per_step != self.pixels_per_step
                or not np.array_equal(random_curves.targets, self.targets)
            ):
                raise ValueError(
                    "random_curves must be the random-order Curves of the same images, targets, steps and pixels_per_step"
                )
            self._random = random_curves

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: npt.ArrayLike) -> CurveEvaluator:
        """An evaluator for some of the images (same seeds, targets and settings) that shares
        the unperturbed scores already computed here, so a method can be scored in chunks
        without recomputing step 0."""
        index = np.asarray(index, dtype=np.int64)
        sub = object.__new__(CurveEvaluator)
        sub.__dict__.update(self.__dict__)
        sub.images, sub.targets = self.images[index], self.targets[index]
        sub._entropies = [self._entropies[i] for i in index]
        sub._base = None if self._base is None else self._base[index]
        sub._random = None
        return sub

    # -- seeded draws -------------------------------------------------------------
    def _rng(self, i: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self._entropies[i], spawn_key=(stream,)))

    def colour_field(self, i: int) -> np.ndarray:
        """float32 (H, W, 3), uniform in [0, 255): image ``i``'s replacement colours."""
        h, w = self.images.shape[1:3]
        return self._rng(i, _STREAM_COLOURS).random((h, w, 3), dtype=np.float32) * np.float32(255.0)

    def image_ranking(self, i: int, relevance_i: np.ndarray | None, order: str) -> np.ndarray:
        """int64 (H*W,): image ``i``'s flat pixel indices in replacement order."""
        if order == "random":
            return pixel_ranking(self.images.shape[1:3], "random", self._rng(i, _STREAM_RANDOM))
        return pixel_ranking(relevance_i, order, self._rng(i, _STREAM_TIES))

    def ranking(self, relevance: np.ndarray | None, order: str) -> np.ndarray:
        """int64 (N, H*W): per image, the flat pixel indices in replacement order."""
        relevance = self._check_order_relevance(relevance, order)
        return np.stack([self.image_ranking(i, None if relevance is None else relevance[i], order) for i in range(len(self))])

    def _check_order_relevance(self, relevance: npt.ArrayLike | None, order: str) -> np.ndarray | None:
        if order not in ORDERS:
            raise ValueError(f"unknown pixel order {order!r}; expected one of {ORDERS}")
        if order == "random":
            return None
        if relevance is None:
            raise ValueError("MoRF and LeRF need a relevance map per image")
        relevance = np.asarray(relevance)
        if relevance.shape != self.images.shape[:3]:
            raise ValueError(
                f"relevance must have shape (N, H, W) = {self.images.shape[:3]} (one value per pixel, "
                f"metrics/relevance_maps.py); got {relevance.shape}"
            )
        return relevance

    # -- scores -------------------------------------------------------------------
    def unperturbed_logits(self) -> np.ndarray:
        """float32 (N, classes): logits of the unperturbed images (computed once)."""
        if self._base is None:
            self._base = self.model.logits(self.images, batch_size=self.batch_size)
        return self._base

    def random_curves(self) -> Curves:
        """The random-order baseline (computed once, shared by every method)."""
        if self._random is None:
            self._random = self._score(lambda i: self.image_ranking(i, None, "random"), "random")
        return self._random

    def curves(self, relevance: np.ndarray | None, order: str) -> Curves:
        """Curves of ``relevance`` (N, H, W) along ``order``; ``random`` ignores relevance."""
        checked = self._check_order_relevance(relevance, order)
        if checked is None:  # order == "random"
            return self.random_curves()
        return self._score(lambda i: self.image_ranking(i, checked[i], order), order)

    def curves_from_ranking(self, ranking: np.ndarray, order: str = "custom") -> Curves:
        """Curves for explicit per-image rankings (N, >= steps * pixels_per_step) of flat pixel indices."""
        ranking = np.asarray(ranking)
        n, need = len(self), self.pixels_per_step * self.steps
        if ranking.ndim != 2 or ranking.shape[0] != n or ranking.shape[1] < need:
            raise ValueError(f"ranking must have shape ({n}, >= {need}); got {ranking.shape}")
        if (
            not np.issubdtype(ranking.dtype, np.integer)
            or ranking.min(initial=0) < 0
            or ranking.max(initial=0) >= self.num_pixels
        ):
            raise ValueError(f"ranking must hold flat pixel indices in [0, {self.num_pixels})")
        return self._score(lambda i: ranking[i], order)

    def _score(self, ranking_of: Callable[[int], np.ndarray], order: str) -> Curves:
        n, h, w, _ = self.images.shape
        k, T, bs = self.pixels_per_step, self.steps, self.batch_size
        base = self.unperturbed_logits()
        logits = np.empty((n, T + 1), np.float32)
        probs = np.empty((n, T + 1), np.float64)
        rows = np.arange(n)
        logits[:, 0] = base[rows, self.targets]
        probs[:, 0] = softmax(base.astype(np.float64))[rows, self.targets]

        buf = np.empty((bs, h * w, 3), np.float32)
        slot_img = np.empty(bs, np.int64)
        slot_step = np.empty(bs, np.int64)
        fill = 0

        def flush(count: int) -> None:
            out = self.model.logits(buf[:count].reshape(count, h, w, 3), batch_size=bs)
            at = (slot_img[:count], slot_step[:count])
            pick = (np.arange(count), self.targets[slot_img[:count]])
            logits[at] = out[pick]
            probs[at] = softmax(out.astype(np.float64))[pick]
            bar.update(count)

        bar = progress(total=n * T, desc=f"{order} curves ({n} images, {self.replacement})", unit="steps")
        for i in range(n):
            for t, perturbed in enumerate(self._perturbed_images(i, ranking_of(i))):
                buf[fill] = perturbed.reshape(h * w, 3)
                slot_img[fill], slot_step[fill] = i, t + 1
                fill += 1
                if fill == bs:
                    flush(fill)
                    fill = 0
        if fill:
            flush(fill)
        bar.close()
        return Curves(order, logits, probs, k, self.targets.copy())

    def _timed(self, impute: Callable[[int], np.ndarray]) -> Callable[[int], np.ndarray]:
        """``impute``, adding its seconds to :attr:`imputation_seconds` (one thread calls it)."""

        def timed(t: int) -> np.ndarray:
            started = time.perf_counter()
            image = impute(t)
            self.imputation_seconds += time.perf_counter() - started
            return image

        return timed

    def _perturbed_images(self, i: int, order_i: np.ndarray) -> Iterator[np.ndarray]:
        """Image ``i`` at steps 1..T along ``order_i``, one float32 array per step (valid until the next)."""
        h, w = self.images.shape[1:3]
        k, T = self.pixels_per_step, self.steps
        if self.replacement == "road":
            curve = ImputationCurve(
                self.images[i], order_i, k, T, np.random.SeedSequence(self._entropies[i], spawn_key=(_STREAM_ROAD,))
            )
            yield from _computed_ahead(self._timed(curve.step_image), range(1, T + 1), self.batch_size)
            return
        running = self.images[i].reshape(h * w, 3).astype(np.float32)  # a copy
        field = self.colour_field(i).reshape(h * w, 3)
        for t in range(T):
            idx = order_i[t * k : (t + 1) * k]
            running[idx] = field[idx]
            yield running


def _computed_ahead(compute: Callable[[int], np.ndarray], items: Iterable[int], depth: int) -> Iterator[np.ndarray]:
    """``compute(item)`` for each item, in order, up to ``depth`` of them computed ahead in one
    background thread, so ROAD's imputations (SuperLU releases the GIL) overlap the model's
    forward passes of the batch before. Each step's image depends on its step alone
    (:class:`metrics.road.ImputationCurve`), so the images are the same as computed in line."""
    items = iter(items)
    pending: deque[Future[np.ndarray]] = deque()
    with ThreadPoolExecutor(1) as pool:
        try:
            for item in items:
                pending.append(pool.submit(compute, item))
                if len(pending) >= depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def perturbation_curves(
    model: Classifier,
    images: np.ndarray,
    relevance: np.ndarray | None,
    targets: np.ndarray | None,
    order: str,
    pixels_per_step: int,
    steps: int,
    seed: int | Sequence[Any] = 0,
    batch_size: int = 32,
    replacement: str = DEFAULT_REPLACEMENT,
) -> Curves:
    """One-call form of :class:`CurveEvaluator` (``targets=None``: the top-1 class).

    To score several methods on the same images, keep one evaluator instead: it
    computes step 0 and the random curves once.
    """
    ev = CurveEvaluator(
        model,
        images,
        targets,
        pixels_per_step=pixels_per_step,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
        replacement=replacement,
    )
    return ev.curves(relevance, order)
