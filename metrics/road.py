"""ROAD's noisy linear imputation, as a pure numpy/scipy module.

ROAD (Rong, Leemann, Borisov, Kasneci and Kasneci, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods", ICML 2022) removes pixels by *noisy linear imputation*
instead of overwriting them with a colour. This module is our own implementation of the
public reference code, ``road/imputations.py`` of github.com/tleemann/road_evaluation
(commit e6b9987, class ``NoisyLinearImputer``; line numbers below refer to that file).
What that code does, and what we do:

* **Equations** (``setup_sparse_system``, lines 119-171). Every removed pixel ``i`` takes
  the weighted average of its 8 neighbours: ``s_i x_i - sum_j w_ij x_j = 0``, where the
  4 direct neighbours weigh 1/6 and the 4 diagonal ones 1/12 (``neighbors_weights``,
  line 94; they sum to 1). A neighbour that is itself removed is an unknown of the system
  (line 164); a kept one moves to the right-hand side with its value (line 156).
* **Image border** (lines 115 and 168). A neighbour outside the image is dropped and
  ``s_i`` is 1 minus the weights of the dropped neighbours, so a border pixel is the
  weighted average of its in-image neighbours, renormalised (a corner: two direct at 1/6,
  one diagonal at 1/12, divided by 5/12).
* **Solve** (line 186). One sparse system for all channels at once: ``spsolve`` on the
  CSC matrix with a (n, C) right-hand side (one factorisation, C solves), in float64.
  The matrix (``s_i`` on the diagonal, ``-w_ij`` off it) is symmetric, and positive
  definite unless every pixel is removed (then it is singular and ROAD's solve fails;
  we raise a ValueError).
* **Noise** (line 190). ``noise * randn`` is added to the imputed pixels only, every
  channel of every removed pixel independently; kept pixels are untouched and nothing is
  clipped. ``noise`` is 0.01 (the default, line 97, and what ``run_road`` and the
  experiments use, ``road/road.py`` line 22). The images it is added to are ToTensor
  images in [0, 1]: ROAD imputes *before* normalisation (``run_road`` docstring, lines
  27-28; ``experiments/cifar10/NoRetrainingMethod.py`` lines 36-37 and 86-95: ToTensor
  for the data set, ``Normalize`` passed as the post-imputation transform). So the noise
  is N(0, 0.01^2) in [0, 1] units, which is ``0.01 * 255 = 2.55`` in our pixel units
  ([0, 255]): :data:`ROAD_NOISE_STD`.

Our images are float32 (H, W, 3) in pixel space [0, 255]; the model's own preprocessing
is applied later, as for every other metric here. Imputing before an affine per-channel
normalisation equals imputing after it (the weights of each equation sum to ``s_i``, so
the system commutes with ``x -> a x + c`` per channel); only the noise's unit matters.

Two solvers give the same imputation:

* ``solver="spsolve"``: a direct transcription of ROAD's system (unknowns in ascending
  flat-pixel order, assembled offset by offset as in ``setup_sparse_system``) solved by
  ``scipy.sparse.linalg.spsolve`` with its default COLAMD ordering, as ROAD does.
* ``solver="nd"`` (the default): the same equations with the unknowns in a geometric
  nested-dissection order of the pixel grid (computed once per image size: split the box
  by its middle row or column, order the two halves, then the separating line), and
  SuperLU with that order kept (``permc_spec="NATURAL"``), diagonal pivots and symmetric
  mode (the matrix is symmetric positive definite, so no pivoting is needed). One
  factorisation serves the three channels. The removed pixels of a separating line
  still separate the removed pixels of the two halves (the 8-neighbour stencil does not
  reach across a full row or column), so the order stays a dissection for any removed
  set. At 224x224 it is 1.3-1.7x faster than plain ``spsolve`` at 50 % removed, 2.2-2.5x
  at 90 %, and about 2x over a 100-step curve (``benchmarks/bench_road.py``); the two
  agree to rounding (float64 solutions within 3e-11 pixel units; the float32 images were
  identical in every case measured). The factorisation is about 85 % of a solve.
  Conjugate gradients (Jacobi-preconditioned, 3 channels at once) were tried and left
  out: about 1.5x faster on uniformly random removed sets, but 4-10x slower on blob-shaped
  ones (large holes make the system ill-conditioned), and not exact. For issue 24 (ROAD at
  2x a random-colour curve) pyamg's smoothed aggregation + CG (10-30x slower per solve) and
  CHOLMOD (about 2x faster at 50-90 %, a 21 MB dependency) were measured and left out; the
  imputation is unchanged, so stored ROAD curves are unchanged (``benchmarks/bench_road.py``'s
  notes; ``metrics.perturbation.ROAD_PROTOCOL_STEPS`` is the cheap setting).

:class:`ImputationCurve` gives the imputed image at each step of a perturbation curve
(pixels ``ranking[:t*k]`` removed at step ``t``), with the noise of step ``t`` drawn from
its own generator (:meth:`ImputationCurve.step_rng`), so every step is reproducible on
its own, whatever the batching or the order in which steps are computed. Each step is an
independent imputation of the original image, as in ROAD (each percentage is imputed from
the original image with fresh noise).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu, spsolve

from common.progress import progress

ROAD_NOISE_STD = 0.01 * 255.0
"""Std of ROAD's imputation noise in our pixel units: ``NoisyLinearImputer(noise=0.01)``
(road/imputations.py line 97; road/road.py line 22) on ToTensor images in [0, 1], times 255."""

NEIGHBOUR_WEIGHTS: tuple[tuple[tuple[int, int], float], ...] = (
    ((-1, -1), 1 / 12),
    ((-1, 0), 1 / 6),
    ((-1, 1), 1 / 12),
    ((0, -1), 1 / 6),
    ((0, 1), 1 / 6),
    ((1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((1, 1), 1 / 12),
)
"""((row offset, column offset), weight) of the 8 neighbours: ROAD's ``neighbors_weights``
(road/imputations.py line 94), 1/6 direct and 1/12 diagonal, summing to 1."""

SOLVERS = ("nd", "spsolve")
"""``nd``: nested-dissection order + SuperLU (fast, the default); ``spsolve``: ROAD's own solve."""

_ND_LEAF = 16
"""Nested dissection stops at boxes of at most this many pixels (8-32 time the same at 224x224)."""


# -- input checks ---------------------------------------------------------------------
def _check_image(image: object) -> np.ndarray:
    """float32 (H, W, 3): ``image`` itself when float32, converted when uint8 (the image sets' pixels)."""
    if not isinstance(image, np.ndarray) or image.dtype not in (np.float32, np.uint8):
        raise ValueError(f"image must be a float32 or uint8 numpy array (H, W, 3) in pixel space; got {_describe(image)}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must have shape (H, W, 3); got {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32)
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite values")
    return image


def _check_removed(removed: object, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(removed, np.ndarray) or removed.dtype != np.bool_:
        raise ValueError(f"removed must be a bool numpy array (H, W) = {shape}; got {_describe(removed)}")
    if removed.shape != shape:
        raise ValueError(f"removed must have the image's shape (H, W) = {shape}; got {removed.shape}")
    if removed.all():
        raise ValueError("removed covers every pixel: there is nothing to impute from (ROAD's system is singular)")
    return removed


def _check_noise_std(noise_std: object) -> float:
    if isinstance(noise_std, (bool, np.bool_)) or not isinstance(noise_std, (int, float, np.integer, np.floating)):
        raise TypeError(f"noise_std must be a real number; got {type(noise_std).__name__}")
    if not np.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"noise_std must be finite and >= 0; got {noise_std}")
    return float(noise_std)


def _check_solver(solver: str) -> str:
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
    return solver


def _describe(x: object) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__


# -- the system -------------------------------------------------------------------------
def _neighbour_matrix(h: int, w: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """W (N, N) with W[i, j] = w_ij for in-image neighbours (row-major flat indices), and s = W's row sums."""
    y, x = np.divmod(np.arange(h * w), w)
    rows, cols, vals = [], [], []
    for (dy, dx), weight in NEIGHBOUR_WEIGHTS:
        y2, x2 = y + dy, x + dx
        inside = (y2 >= 0) & (y2 < h) & (x2 >= 0) & (x2 < w)
        rows.append(np.flatnonzero(inside))
        cols.append((y2 * w + x2)[inside])
        vals.append(np.full(int(inside.sum()), weight))
    weights = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(h * w, h * w))
    weights.sum_duplicates()
    return weights, np.asarray(weights.sum(axis=1)).ravel()


def _nested_dissection(h: int, w: int, leaf: int = _ND_LEAF) -> np.ndarray:
    """int64 (H*W,): flat pixel indices of an H x W grid in nested-dissection order."""
    parts: list[np.ndarray] = []

    def order(y0: int, y1: int, x0: int, x1: int) -> None:  # the box [y0, y1) x [x0, x1)
        if (y1 - y0) * (x1 - x0) <= leaf:
            parts.append((np.arange(y0, y1)[:, None] * w + np.arange(x0, x1)[None, :]).ravel())
        elif y1 - y0 >= x1 - x0:
            m = (y0 + y1) // 2
            order(y0, m, x0, x1)
            order(m + 1, y1, x0, x1)
            parts.append(m * w + np.arange(x0, x1))
        else:
            m = (x0 + x1) // 2
            order(y0, y1, x0, m)
            order(y0, y1, m + 1, x1)
            parts.append(np.arange(y0, y1) * w + m)

    order(0, h, 0, w)
    return np.concatenate(parts).astype(np.int64)


class _Grid:
    """Per image size: the nested-dissection order and the neighbour weights in that order."""

    def __init__(self, h: int, w: int):
        self.shape = (h, w)
        self.perm = _nested_dissection(h, w)
        """perm[r]: the flat pixel at position r of the order."""
        weights, sums = _neighbour_matrix(h, w)
        laplacian = sp.diags(sums) - weights  # s_i on the diagonal, -w_ij off it; exactly symmetric
        self.laplacian = laplacian.tocsr()[self.perm][:, self.perm].tocsr()
        """The full grid's matrix in the order: ROAD's system is its submatrix on the removed pixels."""
        self.perm_image = np.empty_like(self.perm)
        """perm_image[p]: the position of flat pixel p in the order."""
        self.perm_image[self.perm] = np.arange(h * w)


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> _Grid:
    return _Grid(h, w)


def _solve_nd(image: np.ndarray, removed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The imputed values (n, 3) float64 of the removed pixels and their flat indices, via the ND order."""
    h, w, _ = image.shape
    grid = _grid(h, w)
    removed_nd = removed.reshape(-1)[grid.perm]
    unknown = np.flatnonzero(removed_nd)  # ascending = nested-dissection order
    known_values = image.reshape(-1, 3)[grid.perm].astype(np.float64)
    known_values[removed_nd] = 0.0
    rows = grid.laplacian[unknown]
    rhs = -(rows @ known_values)  # the kept neighbours' w_ij v_j (the removed columns meet zeros)
    matrix = rows[:, unknown]  # CSR of a symmetric matrix: its transpose is the same matrix in CSC, without a copy
    factor = splu(matrix.T, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return factor.solve(rhs), grid.perm[unknown]


def _solve_spsolve(image: np.ndarray, removed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROAD's system as written (road/imputations.py lines 119-171, 186), solved by plain spsolve."""
    h, w, _ = image.shape
    flat_removed = removed.reshape(-1)
    flat_image = image.reshape(-1, 3).astype(np.float64)
    unknown = np.flatnonzero(flat_removed)
    n = len(unknown)
    position = np.full(h * w, -1, np.int64)
    position[unknown] = np.arange(n)
    y, x = np.divmod(unknown, w)
    diagonal = np.ones(n)
    rhs = np.zeros((n, 3))
    rows, cols, vals = [], [], []
    for (dy, dx), weight in NEIGHBOUR_WEIGHTS:
        y2, x2 = y + dy, x + dx
        inside = (y2 >= 0) & (y2 < h) & (x2 >= 0) & (x2 < w)
        diagonal[~inside] -= weight
        eq = np.flatnonzero(inside)
        neighbour = y2[inside] * w + x2[inside]
        kept = ~flat_removed[neighbour]
        rhs[eq[kept]] += weight * flat_image[neighbour[kept]]
        rows.append(eq[~kept])
        cols.append(position[neighbour[~kept]])
        vals.append(np.full(int((~kept).sum()), -weight))
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diagonal)
    matrix = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    solution = spsolve(matrix, rhs)
    return solution.reshape(n, 3), unknown


# -- public API -------------------------------------------------------------------------
def noisy_linear_imputation(
    image: np.ndarray,
    removed: np.ndarray,
    rng: np.random.Generator,
    noise_std: float = ROAD_NOISE_STD,
    *,
    solver: str = "nd",
) -> np.ndarray:
    """ROAD's noisy linear imputation of the ``removed`` pixels of one image.

    ``image``: float32 (H, W, 3) in pixel space [0, 255] (uint8 is taken as float32).
    ``removed``: bool (H, W), True where a pixel is removed (ROAD's mask is the opposite:
    0 = removed). ``rng``: the generator the noise is drawn from: ``noise_std *
    rng.standard_normal((n, 3))`` for the ``n`` removed pixels in row-major order, added to
    their imputed values (drawn even when ``noise_std`` is 0, so the generator advances the
    same way). ``noise_std``: pixel units, ROAD's by default (:data:`ROAD_NOISE_STD`).
    ``solver``: see :data:`SOLVERS`; both solve the same equations (agreement to rounding).

    Returns a new float32 (H, W, 3): kept pixels unchanged, removed pixels imputed (the
    module docstring says how, with citations of ROAD's code). Nothing is clipped.
    A ValueError names ``image`` or ``removed`` when its dtype or shape is wrong, and is
    raised when every pixel is removed.
    """
    image = _check_image(image)
    removed = _check_removed(removed, image.shape[:2])
    noise_std = _check_noise_std(noise_std)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    solve = _solve_nd if _check_solver(solver) == "nd" else _solve_spsolve
    return _impute(image, removed, rng, noise_std, solve)


def _impute(
    image: np.ndarray,
    removed: np.ndarray,
    rng: np.random.Generator,
    noise_std: float,
    solve: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    out = image.copy()
    if not removed.any():
        return out
    values, where = solve(image, removed)
    flat_out = out.reshape(-1, 3)
    order = np.argsort(where)  # row-major order of the removed pixels, for the noise
    noise = rng.standard_normal((len(where), 3))
    flat_out[where[order]] = (values[order] + noise_std * noise).astype(np.float32)
    return out


def _seed_sequence(seed: int | Sequence[int] | np.random.SeedSequence) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    entropy = tuple(seed) if isinstance(seed, (tuple, list)) else (seed,)
    for v in entropy:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
            raise TypeError(f"seed must be a non-negative int, a tuple of them or a SeedSequence; got {seed!r}")
    return np.random.SeedSequence(tuple(int(v) for v in entropy))


class ImputationCurve:
    """ROAD-imputed images along one pixel order: step ``t`` (1..T) removes ``ranking[:t*k]``.

    ``image``: float32 (H, W, 3), pixel space (uint8 is taken as float32). ``ranking``: int
    (>= T*k,) flat pixel indices (row-major) in removal order, the first ``T*k`` distinct.
    ``pixels_per_step`` ``k`` and ``steps`` ``T``: positive ints, ``T*k < H*W``. ``seed``: a
    non-negative int, a tuple of them (e.g. ``(seed, image_index)``) or a
    ``numpy.random.SeedSequence``; the noise of step ``t`` comes from :meth:`step_rng`
    ``(t)``, a generator of its own, so :meth:`step_image` ``(t)`` is the same whether
    computed alone, in a loop, in threads or in another process, and equals
    ``noisy_linear_imputation(image, self.removed(t), self.step_rng(t), noise_std)``.
    Step 0 is the unchanged image.

    Each step is one independent solve (ROAD imputes each percentage from the original
    image); the speed comes from the solver (``solver="nd"``, see the module docstring).
    """

    def __init__(
        self,
        image: np.ndarray,
        ranking: np.ndarray,
        pixels_per_step: int,
        steps: int,
        seed: int | Sequence[int] | np.random.SeedSequence = 0,
        noise_std: float = ROAD_NOISE_STD,
        *,
        solver: str = "nd",
    ):
        self.image = _check_image(image)
        h, w, _ = image.shape
        for name, v in (("pixels_per_step", pixels_per_step), ("steps", steps)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        self.pixels_per_step, self.steps = int(pixels_per_step), int(steps)
        need = self.pixels_per_step * self.steps
        if need >= h * w:
            raise ValueError(
                f"steps * pixels_per_step = {need} must be below the {h * w} pixels of a {h}x{w} image "
                "(with every pixel removed there is nothing to impute from)"
            )
        if not isinstance(ranking, np.ndarray) or not np.issubdtype(ranking.dtype, np.integer):
            raise ValueError(f"ranking must be an integer numpy array of flat pixel indices; got {_describe(ranking)}")
        if ranking.ndim != 1 or len(ranking) < need:
            raise ValueError(f"ranking must have shape (>= {need},) = (>= steps * pixels_per_step,); got {ranking.shape}")
        used = ranking[:need].astype(np.int64)
        if used.min() < 0 or used.max() >= h * w:
            raise ValueError(f"ranking must hold flat pixel indices in [0, {h * w})")
        if np.bincount(used, minlength=h * w).max() > 1:
            raise ValueError(f"ranking's first {need} entries (steps * pixels_per_step) must be distinct pixels")
        self.ranking = used
        self.noise_std = _check_noise_std(noise_std)
        self.solver = _check_solver(solver)
        self._seed = _seed_sequence(seed)

    def __len__(self) -> int:
        return self.steps

    def _check_step(self, t: object) -> int:
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)) or not 0 <= t <= self.steps:
            raise ValueError(f"step must be an int in [0, {self.steps}]; got {t!r}")
        return int(t)

    def step_rng(self, t: int) -> np.random.Generator:
        """Step ``t``'s noise generator: ``SeedSequence(seed's entropy, spawn_key=seed's spawn_key + (t,))``."""
        t = self._check_step(t)
        seq = self._seed
        return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, t)))

    def removed(self, t: int) -> np.ndarray:
        """bool (H, W): the pixels removed at step ``t``."""
        t = self._check_step(t)
        h, w, _ = self.image.shape
        mask = np.zeros(h * w, bool)
        mask[self.ranking[: t * self.pixels_per_step]] = True
        return mask.reshape(h, w)

    def step_image(self, t: int) -> np.ndarray:
        """float32 (H, W, 3): the image at step ``t`` (0: a copy of the original)."""
        t = self._check_step(t)
        if t == 0:
            return self.image.copy()
        solve = _solve_nd if self.solver == "nd" else _solve_spsolve
        return _impute(self.image, self.removed(t), self.step_rng(t), self.noise_std, solve)

    def __iter__(self) -> Iterator[np.ndarray]:
        """The images of steps 1..T, in order."""
        for t in range(1, self.steps + 1):
            yield self.step_image(t)

    def images(self, steps: Sequence[int] | None = None, workers: int = 1) -> np.ndarray:
        """float32 (len(steps), H, W, 3): the images of ``steps`` (default 1..T).

        ``workers`` > 1 computes steps in that many threads (SuperLU releases the GIL);
        the images are the same whatever ``workers`` is.
        """
        steps = list(range(1, self.steps + 1) if steps is None else steps)
        if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValueError(f"workers must be a positive int; got {workers!r}")
        out = np.empty((len(steps), *self.image.shape), np.float32)

        def fill(i: int) -> None:
            out[i] = self.step_image(steps[i])

        bar = progress(total=len(steps), desc="ROAD imputations", unit="images")
        if workers == 1 or len(steps) < 2:
            for i in range(len(steps)):
                fill(i)
                bar.update(1)
        else:
            with ThreadPoolExecutor(min(int(workers), len(steps))) as pool:
                for _ in pool.map(fill, range(len(steps))):
                    bar.update(1)
        bar.close()
        return out
