"""ROAD's noisy linear imputation (metrics/road.py) against hand-computed cases.

Equations (ROAD, road/imputations.py): a removed pixel is the weighted average of its
in-image neighbours, 1/6 for the 4 direct and 1/12 for the 4 diagonal ones, renormalised
at the image border; noise N(0, 2.55^2) in pixel units on the imputed pixels only.
"""

from __future__ import annotations

import numpy as np
import pytest

from metrics.road import NEIGHBOUR_WEIGHTS, ROAD_NOISE_STD, ImputationCurve, noisy_linear_imputation

CURVE_TOLERANCE = 1e-3
"""Pixel units: the fast curve path against the plain per-step spsolve (measured: 0 or 1 float32 ulp, < 3e-5)."""


def channels(values) -> np.ndarray:
    """float32 (H, W, 3) from one (H, W) plane: the plane, half of it, and 255 minus it."""
    v = np.asarray(values, np.float64)
    return np.stack([v, 0.5 * v, 255.0 - v], axis=-1).astype(np.float32)


def mask(shape, *pixels) -> np.ndarray:
    m = np.zeros(shape, bool)
    for p in pixels:
        m[p] = True
    return m


def impute(image, removed, **kw) -> np.ndarray:
    return noisy_linear_imputation(image, removed, np.random.default_rng(0), noise_std=0.0, **kw)


def expected_channels(value: float) -> np.ndarray:
    return np.array([value, 0.5 * value, 255.0 - value])


@pytest.fixture(params=["nd", "spsolve"])
def solver(request):
    return request.param


# -- hand-computed cases (noise 0) ------------------------------------------------------------
def test_weights_are_roads():
    weights = dict(NEIGHBOUR_WEIGHTS)
    assert len(weights) == 8 and sum(weights.values()) == pytest.approx(1.0)
    assert all(weights[o] == pytest.approx(1 / 6) for o in ((0, 1), (0, -1), (1, 0), (-1, 0)))
    assert all(weights[o] == pytest.approx(1 / 12) for o in ((1, 1), (1, -1), (-1, 1), (-1, -1)))


def test_centre_of_3x3(solver):
    plane = [[10, 20, 30], [40, 0, 60], [70, 80, 200]]
    out = impute(channels(plane), mask((3, 3), (1, 1)), solver=solver)
    # direct: 20, 40, 60, 80 at 1/6; diagonal: 10, 30, 70, 200 at 1/12; interior: weights sum to 1
    centre = (20 + 40 + 60 + 80) / 6 + (10 + 30 + 70 + 200) / 12  # 33.333 + 25.833 = 59.1667
    np.testing.assert_allclose(out[1, 1], expected_channels(centre), atol=1e-4)
    keep = ~mask((3, 3), (1, 1))
    np.testing.assert_array_equal(out[keep], channels(plane)[keep])


def test_two_adjacent_pixels_solve_a_2x2_system(solver):
    plane = [[10, 20, 30, 52], [56, 0, 0, 80], [90, 100, 110, 120]]
    out = impute(channels(plane), mask((3, 4), (1, 1), (1, 2)), solver=solver)
    # x1 at (1, 1), x2 at (1, 2), each the other's direct neighbour:
    #   x1 = a1 + x2 / 6,  a1 = (20 + 100 + 56) / 6 + (10 + 30 + 90 + 110) / 12 = 148 / 3
    #   x2 = a2 + x1 / 6,  a2 = (30 + 110 + 80) / 6 + (20 + 52 + 100 + 120) / 12 = 61
    # => x1 = (36 a1 + 6 a2) / 35 = (1776 + 366) / 35 = 61.2,  x2 = 61 + 61.2 / 6 = 71.2
    np.testing.assert_allclose(out[1, 1], expected_channels(61.2), atol=1e-4)
    np.testing.assert_allclose(out[1, 2], expected_channels(71.2), atol=1e-4)


def test_border_pixels_renormalise_over_in_image_neighbours(solver):
    plane = [[0, 12, 36], [24, 60, 96], [48, 72, 120]]
    image = channels(plane)
    corner = impute(image, mask((3, 3), (0, 0)), solver=solver)
    # (0, 0): direct (0, 1) = 12 and (1, 0) = 24 at 1/6, diagonal (1, 1) = 60 at 1/12; sum of weights 5/12
    np.testing.assert_allclose(corner[0, 0], expected_channels((12 / 6 + 24 / 6 + 60 / 12) / (5 / 12)), atol=1e-4)  # 26.4
    edge = impute(image, mask((3, 3), (0, 1)), solver=solver)
    # (0, 1): direct 0, 36, 60 at 1/6; diagonal 24, 96 at 1/12; sum of weights 2/3
    np.testing.assert_allclose(edge[0, 1], expected_channels(((0 + 36 + 60) / 6 + (24 + 96) / 12) / (2 / 3)), atol=1e-4)  # 39


def test_both_solvers_agree_on_a_non_square_image_with_border_holes():
    rng = np.random.default_rng(3)
    image = (rng.random((48, 40, 3)) * 255).astype(np.float32)
    yy, xx = np.mgrid[:48, :40]
    removed = ((yy - 10) ** 2 + (xx - 5) ** 2 < 150) | (rng.random((48, 40)) < 0.3)
    fast, plain = impute(image, removed), impute(image, removed, solver="spsolve")
    assert np.abs(fast.astype(np.float64) - plain).max() < 1e-4


# -- properties --------------------------------------------------------------------------------
def test_constant_image_stays_constant():
    image = np.full((20, 24, 3), 77.5, np.float32)
    removed = np.random.default_rng(1).random((20, 24)) < 0.8
    np.testing.assert_allclose(impute(image, removed), image, atol=1e-4)


def test_affine_field_is_reproduced_in_the_interior():
    yy, xx = np.mgrid[:30, :30].astype(np.float64)
    image = np.stack([3 * xx + 2 * yy + 10, 200 - 4 * yy, xx * 0.5 + 100], axis=-1).astype(np.float32)
    removed = np.random.default_rng(2).random((30, 30)) < 0.7
    removed[[0, -1], :] = removed[:, [0, -1]] = False  # the border renormalisation is not affine-exact
    np.testing.assert_allclose(impute(image, removed), image, atol=1e-3)


def test_imputed_values_stay_within_the_kept_range():
    rng = np.random.default_rng(4)
    image = (rng.random((25, 25, 3)) * 255).astype(np.float32)
    removed = rng.random((25, 25)) < 0.6
    out = impute(image, removed)
    for c in range(3):
        kept = image[..., c][~removed]
        assert kept.min() - 1e-3 <= out[..., c][removed].min() and out[..., c][removed].max() <= kept.max() + 1e-3


def test_uint8_image_is_taken_as_float32_pixels():
    image = np.random.default_rng(8).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    removed = mask((9, 11), (4, 5), (0, 0))
    out = impute(image, removed)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, impute(image.astype(np.float32), removed))


def test_nothing_removed_returns_a_copy():
    image = np.random.default_rng(5).random((6, 7, 3)).astype(np.float32)
    out = noisy_linear_imputation(image, np.zeros((6, 7), bool), np.random.default_rng(0))
    np.testing.assert_array_equal(out, image)
    assert out is not image


# -- noise -------------------------------------------------------------------------------------
def test_noise_constant_is_roads_001_in_unit_range():
    assert ROAD_NOISE_STD == pytest.approx(0.01 * 255)


def test_noise_is_seeded_touches_only_removed_pixels_and_has_roads_std():
    rng = np.random.default_rng(6)
    image = (rng.random((64, 64, 3)) * 255).astype(np.float32)
    removed = rng.random((64, 64)) < 0.5
    a = noisy_linear_imputation(image, removed, np.random.default_rng(42))
    b = noisy_linear_imputation(image, removed, np.random.default_rng(42))
    c = noisy_linear_imputation(image, removed, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(a[~removed], image[~removed])
    noise = (a.astype(np.float64) - impute(image, removed))[removed]  # about 6000 values
    assert abs(noise.std() - ROAD_NOISE_STD) < 0.05 * ROAD_NOISE_STD
    assert abs(noise.mean()) < 0.1
    # the documented draw: standard normals for the removed pixels in row-major order
    z = np.random.default_rng(42).standard_normal((int(removed.sum()), 3))
    np.testing.assert_allclose(noise, ROAD_NOISE_STD * z, atol=1e-4)


# -- the curve ---------------------------------------------------------------------------------
def test_curve_equals_the_plain_per_step_solve():
    rng = np.random.default_rng(7)
    image = (rng.random((32, 32, 3)) * 255).astype(np.float32)
    ranking = rng.permutation(32 * 32)
    curve = ImputationCurve(image, ranking, pixels_per_step=10, steps=100, seed=(5, 3))
    images = curve.images()
    assert images.shape == (100, 32, 32, 3) and images.dtype == np.float32
    worst = 0.0
    for t in range(1, 101):
        removed = curve.removed(t)
        assert removed.sum() == 10 * t and removed.reshape(-1)[ranking[: 10 * t]].all()
        plain = noisy_linear_imputation(image, removed, curve.step_rng(t), solver="spsolve")
        worst = max(worst, float(np.abs(images[t - 1].astype(np.float64) - plain).max()))
    assert worst < CURVE_TOLERANCE
    # each step stands alone: same result out of order, from a fresh curve, by iteration
    again = ImputationCurve(image, ranking, pixels_per_step=10, steps=100, seed=(5, 3))
    np.testing.assert_array_equal(again.step_image(57), images[56])
    np.testing.assert_array_equal(next(iter(again)), images[0])
    np.testing.assert_array_equal(again.step_image(0), image)
    np.testing.assert_array_equal(again.images([3, 1], workers=2), images[[2, 0]])
    other = ImputationCurve(image, ranking, pixels_per_step=10, steps=100, seed=(5, 4))
    assert not np.array_equal(other.step_image(57), images[56])


def test_curve_seed_forms():
    image = np.zeros((8, 8, 3), np.float32)
    ranking = np.arange(64)
    a = ImputationCurve(image, ranking, 4, 10, seed=np.random.SeedSequence(9, spawn_key=(2,))).step_image(3)
    b = ImputationCurve(image, ranking, 4, 10, seed=np.random.SeedSequence(9, spawn_key=(2,))).step_image(3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="seed"):
        ImputationCurve(image, ranking, 4, 10, seed=-1)


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image, removed, name",
    [
        (np.zeros((4, 4, 3), np.float64), np.zeros((4, 4), bool), "image"),
        (np.zeros((4, 4), np.float32), np.zeros((4, 4), bool), "image"),
        (np.zeros((4, 4, 4), np.float32), np.zeros((4, 4), bool), "image"),
        ([[[0.0] * 3] * 4] * 4, np.zeros((4, 4), bool), "image"),
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 5), bool), "removed"),
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8), "removed"),
        (np.zeros((4, 4, 3), np.float32), np.ones((4, 4), bool), "removed"),
    ],
)
def test_bad_inputs_name_the_argument(image, removed, name):
    with pytest.raises(ValueError, match=name):
        noisy_linear_imputation(image, removed, np.random.default_rng(0))


def test_bad_rng_noise_and_solver():
    image, removed = np.zeros((4, 4, 3), np.float32), mask((4, 4), (1, 1))
    with pytest.raises(TypeError, match="rng"):
        noisy_linear_imputation(image, removed, 0)
    with pytest.raises(ValueError, match="noise_std"):
        noisy_linear_imputation(image, removed, np.random.default_rng(0), noise_std=-1.0)
    with pytest.raises(ValueError, match="solver"):
        noisy_linear_imputation(image, removed, np.random.default_rng(0), solver="cg")


@pytest.mark.parametrize(
    "ranking, k, steps, name",
    [
        (np.arange(16), 4, 4, "steps \\* pixels_per_step"),  # would remove every pixel
        (np.arange(16), 0, 2, "pixels_per_step"),
        (np.arange(16), 2, 0, "steps"),
        (np.arange(5), 2, 3, "ranking"),
        (np.arange(16.0), 2, 3, "ranking"),
        (np.array([0, 1, 1, 2, 3, 4]), 2, 3, "ranking"),
        (np.array([0, 1, 2, 3, 4, 16]), 2, 3, "ranking"),
    ],
)
def test_bad_curve_arguments(ranking, k, steps, name):
    with pytest.raises(ValueError, match=name):
        ImputationCurve(np.zeros((4, 4, 3), np.float32), ranking, k, steps)
    curve = ImputationCurve(np.zeros((4, 4, 3), np.float32), np.arange(16), 2, 3)
    with pytest.raises(ValueError, match="step"):
        curve.step_image(4)


# -- the curve evaluator's ROAD path ------------------------------------------------------------
class _Recorder:
    """A stand-in classifier: logits = per-channel means of the image (3 classes); keeps every batch scored."""

    num_classes = 3

    def __init__(self) -> None:
        self.scored: list[np.ndarray] = []

    def check_images(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(images, np.float32)

    def logits(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        self.scored.append(np.array(images))
        return images.mean(axis=(1, 2)).astype(np.float32)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_evaluator_road_images_are_the_curves_images_whatever_the_prefetch(batch_size):
    """CurveEvaluator imputes ahead in a background thread (as deep as a batch) while the model
    scores: the images scored are exactly ImputationCurve's, in step order, image after image."""
    from metrics.perturbation import _STREAM_ROAD, CurveEvaluator

    rng = np.random.default_rng(5)
    images = rng.uniform(0, 255, (2, 12, 12, 3)).astype(np.float32)
    relevance = rng.standard_normal((2, 12, 12))
    model = _Recorder()
    ev = CurveEvaluator(model, images, None, pixels_per_step=9, steps=7, seed=4, batch_size=batch_size, replacement="road")
    ev.unperturbed_logits()
    model.scored.clear()
    ev.curves(relevance, "morf")
    scored = np.concatenate(model.scored)
    expected = [
        ImputationCurve(
            images[i],
            ev.image_ranking(i, relevance[i], "morf"),
            9,
            7,
            np.random.SeedSequence(ev._entropies[i], spawn_key=(_STREAM_ROAD,)),
        ).images()
        for i in range(2)
    ]
    np.testing.assert_array_equal(scored, np.concatenate(expected))
