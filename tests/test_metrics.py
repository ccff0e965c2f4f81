"""Ground-truth tests of the metrics layer (SPEC sections 3 and 4).

The perturbation curves are checked against a hand-built linear model whose logits are
recomputed here in numpy, from the documented seed derivation, without the evaluator.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import metrics
from metrics import (
    CurveEvaluator,
    abpc,
    grayscale_map,
    perturbation_curves,
    pixel_ranking,
    pixels_per_step_for,
    png_size,
    ssim_to_image,
    summarise,
)
from models import from_keras, get_model, scale_preprocess, softmax
from models.keras_api import keras

SIZE = 16  # linear test model: 16x16x3 -> CLASSES logits
CLASSES = 4
REGION = (slice(4, 8), slice(6, 10))  # the 16 pixels class 0 looks at
K = 4  # pixels per step
T = SIZE * SIZE // K  # 64 steps: the whole image


# -- helpers -------------------------------------------------------------------------
def linear_weights() -> tuple[np.ndarray, np.ndarray]:
    """Class 0: +1 per channel value inside REGION, 0 elsewhere; other classes: small random."""
    rng = np.random.default_rng(123)
    w = rng.normal(scale=0.01, size=(SIZE, SIZE, 3, CLASSES))
    w[..., 0] = 0.0
    w[REGION[0], REGION[1], :, 0] = 1.0
    b = np.array([0.5, -0.25, 0.0, 0.125])
    return w, b


@pytest.fixture(scope="module")
def linear():
    w, b = linear_weights()
    inp = keras.Input((SIZE, SIZE, 3))
    out = keras.layers.Dense(CLASSES, name="logits")(keras.layers.Flatten()(inp))
    km = keras.Model(inp, out)
    km.get_layer("logits").set_weights([w.reshape(-1, CLASSES).astype(np.float32), b.astype(np.float32)])
    return from_keras(km, scale_preprocess(1 / 255, 0.0), name="linear", preprocessing="x / 255")


@pytest.fixture(scope="module")
def tiny():
    return get_model("tiny")


def numpy_logits(pixels: np.ndarray) -> np.ndarray:
    w, b = linear_weights()
    return (pixels.astype(np.float64) / 255).reshape(len(pixels), -1) @ w.reshape(-1, CLASSES) + b


def documented_field(entropy, shape) -> np.ndarray:
    """The colour field as the perturbation module documents it (stream 0 of the image's entropy)."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(0,)))
    return rng.random((*shape, 3), dtype=np.float32) * np.float32(255)


def expected_curve(image, field, ranking, k, steps, target):
    """Non-incremental reference: step t = image with ranking[:t*k] replaced by field."""
    flat = image.reshape(-1, 3).astype(np.float32)
    stack = []
    for t in range(steps + 1):
        x = flat.copy()
        x[ranking[: t * k]] = field.reshape(-1, 3)[ranking[: t * k]]
        stack.append(x.reshape(image.shape))
    logits = numpy_logits(np.stack(stack))
    return logits[:, target], softmax(logits)[:, target]


def make_images(n=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 120, (n, SIZE, SIZE, 3), dtype=np.uint8)
    images[:, REGION[0], REGION[1], :] = 255  # bright region: class 0's logit is high
    return images


def true_relevance(n, jitter_seed=None):
    rel = np.zeros((n, SIZE, SIZE))
    rel[:, REGION[0], REGION[1]] = 1.0
    if jitter_seed is not None:  # distinct values: the ranking no longer depends on tie-breaking
        rel += np.random.default_rng(jitter_seed).uniform(0, 1e-3, rel.shape)
    return rel


# -- pixels per step -----------------------------------------------------------------
def test_pixels_per_step_profiles():
    assert pixels_per_step_for(299) == 100
    assert pixels_per_step_for(224) == 56
    assert pixels_per_step_for((224, 224), steps=800) == 56
    assert pixels_per_step_for(32, steps=64) == 14
    assert metrics.THESIS_STEPS * pixels_per_step_for(299) == 80_000
    with pytest.raises(ValueError, match="exceed"):
        pixels_per_step_for(8, steps=100)


# -- relevance maps ------------------------------------------------------------------
def test_grayscale_map_known_values():
    rel = -np.arange(201, dtype=np.float64).reshape(3, 67)  # sign dropped; p99.5 of 0..200 is 199
    g = grayscale_map(rel)
    assert g.dtype == np.uint8 and g.shape == (3, 67)
    expected = np.rint(np.minimum(np.arange(201) / 199.0, 1.0) * 255).astype(np.uint8).reshape(3, 67)
    np.testing.assert_array_equal(g, expected)
    assert g.flat[0] == 0 and g.flat[199] == 255 and g.flat[200] == 255 and g.flat[100] == 128


def test_grayscale_map_zero_and_sparse_maps():
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(grayscale_map(np.zeros((5, 7))), np.zeros((5, 7), np.uint8))
        sparse = np.zeros((20, 20))
        sparse[3, 4] = -2.0  # one pixel: the 99.5th percentile is 0, the maximum is used
        g = grayscale_map(sparse)
    assert g[3, 4] == 255 and g.sum() == 255
    with pytest.raises(ValueError, match="NaN"):
        grayscale_map(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        grayscale_map(np.zeros((2, 3, 3)))


def test_pixel_ranking_orders():
    rel = np.array([[3.0, 1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(pixel_ranking(rel, "morf", 0), [0, 2, 1, 3])
    np.testing.assert_array_equal(pixel_ranking(rel, "lerf", 0), [3, 1, 2, 0])
    r = pixel_ranking(rel, "random", 0)
    assert sorted(r) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="unknown pixel order"):
        pixel_ranking(rel, "most", 0)


def test_pixel_ranking_ties_are_seeded():
    rel = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    a = pixel_ranking(rel, "morf", 5)
    np.testing.assert_array_equal(a, pixel_ranking(rel, "morf", 5))  # deterministic
    assert set(a[:3]) == {0, 1, 2} and set(a[3:]) == {3, 4, 5}
    # ties follow the seeded permutation, in both orders
    flat = np.zeros(36)
    perm = np.random.default_rng(9).permutation(36)
    np.testing.assert_array_equal(pixel_ranking(flat.reshape(6, 6), "morf", 9), perm)
    np.testing.assert_array_equal(pixel_ranking(flat.reshape(6, 6), "lerf", 9), perm)
    seeds = {tuple(pixel_ranking(flat.reshape(6, 6), "morf", s)) for s in range(5)}
    assert len(seeds) == 5


# -- perturbation curves: exact values on a linear model -----------------------------
@pytest.mark.parametrize("order", ["morf", "lerf", "random"])
def test_curves_match_numpy_reference(linear, order):
    images = make_images()
    n = len(images)
    rel = true_relevance(n, jitter_seed=1)
    targets = np.array([0, 1, 0])
    curves = perturbation_curves(linear, images, rel, targets, order, pixels_per_step=K, steps=T - 4, seed=11, batch_size=5)
    assert curves.logits.shape == curves.probs.shape == (n, T - 3)
    for i in range(n):
        if order == "random":  # documented stream 2
            ranking = np.random.default_rng(np.random.SeedSequence((11, i), spawn_key=(2,))).permutation(SIZE * SIZE)
        else:
            ranking = np.argsort(-rel[i].ravel() if order == "morf" else rel[i].ravel(), kind="stable")
        field = documented_field((11, i), (SIZE, SIZE))
        exp_logit, exp_prob = expected_curve(images[i], field, ranking, K, T - 4, targets[i])
        np.testing.assert_allclose(curves.logits[i], exp_logit, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(curves.probs[i], exp_prob, rtol=1e-4, atol=1e-6)


def test_step0_is_the_unperturbed_score(linear):
    images = make_images()
    logits = linear.logits(images)
    targets = logits.argmax(axis=1)
    ev = CurveEvaluator(linear, images, None, pixels_per_step=K, steps=8, seed=0)
    np.testing.assert_array_equal(ev.targets, targets)  # targets=None: top-1
    c = ev.curves(true_relevance(len(images)), "morf")
    np.testing.assert_array_equal(c.logits[:, 0], logits[np.arange(len(images)), targets])
    np.testing.assert_allclose(c.probs[:, 0], softmax(logits.astype(np.float64))[np.arange(len(images)), targets])


def test_true_relevance_orders_the_curves(linear):
    images = make_images(n=4)
    n = len(images)
    ev = CurveEvaluator(linear, images, np.zeros(n, int), pixels_per_step=K, steps=T, seed=3)
    rel = true_relevance(n)  # ties inside and outside the region
    morf, lerf, rnd = ev.curves(rel, "morf"), ev.curves(rel, "lerf"), ev.curves(rel, "random")
    region_steps = 16 // K  # the region's 16 pixels take 4 steps
    start = morf.logits[:, :1]
    # MoRF: the region is gone after 4 steps, nothing changes after that
    assert np.all(morf.logits[:, region_steps] < start[:, 0] - 10)
    np.testing.assert_allclose(
        morf.logits[:, region_steps:], morf.logits[:, [region_steps]].repeat(T - region_steps + 1, 1), rtol=1e-6
    )
    # LeRF: flat (class 0 ignores the pixels outside the region) until the region is reached
    np.testing.assert_allclose(lerf.logits[:, : T - region_steps + 1], start.repeat(T - region_steps + 1, 1), rtol=1e-6)
    assert np.all(lerf.logits[:, -1] < start[:, 0] - 10)
    # the whole image replaced: every order ends at the same image, so the same score
    np.testing.assert_allclose(morf.logits[:, -1], lerf.logits[:, -1], rtol=1e-6)
    np.testing.assert_allclose(rnd.logits[:, -1], lerf.logits[:, -1], rtol=1e-6)
    # area: MoRF < random < LeRF, per image
    assert np.all(morf.logits.sum(1) < rnd.logits.sum(1)) and np.all(rnd.logits.sum(1) < lerf.logits.sum(1))
    score = abpc(lerf.logits, morf.logits)
    assert np.all(score.sum > 0) and score.steps == T


def test_colour_field_shared_across_methods_and_orders(linear):
    images = make_images()
    n = len(images)
    targets = np.array([1, 2, 3])
    a = CurveEvaluator(linear, images, targets, pixels_per_step=K, steps=T, seed=7)
    b = CurveEvaluator(linear, images, targets, pixels_per_step=K, steps=T, seed=[(7, i) for i in range(n)])
    c = CurveEvaluator(linear, images, targets, pixels_per_step=K, steps=T, seed=8)
    for i in range(n):
        np.testing.assert_array_equal(a.colour_field(i), documented_field((7, i), (SIZE, SIZE)))
        np.testing.assert_array_equal(a.colour_field(i), b.colour_field(i))
        assert not np.array_equal(a.colour_field(i), c.colour_field(i))
        assert a.colour_field(i).min() >= 0 and a.colour_field(i).max() <= 255
    assert not np.array_equal(a.colour_field(0), a.colour_field(1))
    # two different methods and three orders: at full coverage all see the same colour image
    rel1 = true_relevance(n, jitter_seed=1)
    rel2 = np.random.default_rng(2).normal(size=(n, SIZE, SIZE))
    finals = [a.curves(r, o).logits[:, -1] for r in (rel1, rel2) for o in ("morf", "lerf")]
    finals.append(a.random_curves().logits[:, -1])
    finals.append(b.curves(rel2, "morf").logits[:, -1])
    for f in finals[1:]:
        np.testing.assert_allclose(f, finals[0], rtol=1e-6)
    assert not np.allclose(c.curves(rel1, "morf").logits[:, -1], finals[0], rtol=1e-6)


def test_per_image_seeds_make_curves_independent_of_the_set(tiny):
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    rel = rng.normal(size=(3, 32, 32))
    seeds = [101, 202, 303]
    full = perturbation_curves(tiny, images, rel, np.array([1, 2, 3]), "morf", 8, 20, seeds, batch_size=4)
    alone = perturbation_curves(tiny, images[2:], rel[2:], np.array([3]), "morf", 8, 20, seeds[2:], batch_size=4)
    np.testing.assert_allclose(alone.logits[0], full.logits[2], rtol=1e-5, atol=1e-6)


def test_batch_size_does_not_change_results(tiny):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    rel = rng.normal(size=(3, 32, 32))
    out = {bs: CurveEvaluator(tiny, images, None, pixels_per_step=14, steps=30, seed=1, batch_size=bs) for bs in (1, 7, 64)}
    for order in ("morf", "lerf", "random"):
        ref = out[1].curves(rel, order)
        for bs in (7, 64):
            c = out[bs].curves(rel, order)
            # bit-identical on the development machine; a tolerance guards against BLAS kernels
            # that differ by batch size elsewhere (a batching bug would be far off)
            np.testing.assert_allclose(c.logits, ref.logits, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(c.probs, ref.probs, rtol=1e-5, atol=1e-7)


def test_evaluator_caches_shared_parts(linear, monkeypatch):
    images = make_images()
    ev = CurveEvaluator(linear, images, np.zeros(3, int), pixels_per_step=K, steps=10, seed=0, batch_size=8)
    calls = []
    real = type(linear).logits
    monkeypatch.setattr(type(linear), "logits", lambda self, x, batch_size=32: calls.append(len(x)) or real(self, x, batch_size))
    rnd = ev.random_curves()
    assert ev.curves(None, "random") is rnd
    rel = true_relevance(3)
    ev.curves(rel, "morf")
    ev.curves(rel, "lerf")
    # one step-0 pass (3 images) and 3 x 10 perturbed images per curve, in batches of <= 8
    assert sum(calls) == 3 + 3 * 30 and max(calls) <= 8
    assert calls.count(3) >= 1
    # shared parts handed to a second evaluator (e.g. in another process): not recomputed
    calls.clear()
    ev2 = CurveEvaluator(
        linear,
        images,
        np.zeros(3, int),
        pixels_per_step=K,
        steps=10,
        seed=0,
        batch_size=8,
        unperturbed_logits=ev.unperturbed_logits(),
        random_curves=rnd,
    )
    assert ev2.random_curves() is rnd
    np.testing.assert_array_equal(ev2.curves(rel, "morf").logits, ev.curves(rel, "morf").logits)
    assert sum(calls) == 2 * 3 * 10
    with pytest.raises(ValueError, match="random_curves must be"):
        CurveEvaluator(linear, images, np.ones(3, int), pixels_per_step=K, steps=10, seed=0, random_curves=rnd)
    with pytest.raises(ValueError, match="unperturbed_logits must have shape"):
        CurveEvaluator(linear, images, None, pixels_per_step=K, steps=10, unperturbed_logits=np.zeros((3, 2)))


def test_curves_from_explicit_ranking(linear):
    images = make_images()
    ev = CurveEvaluator(linear, images, np.zeros(3, int), pixels_per_step=K, steps=12, seed=2)
    rel = true_relevance(3, jitter_seed=4)
    np.testing.assert_array_equal(ev.curves_from_ranking(ev.ranking(rel, "lerf")).logits, ev.curves(rel, "lerf").logits)
    with pytest.raises(ValueError, match="flat pixel indices"):
        ev.curves_from_ranking(np.full((3, SIZE * SIZE), SIZE * SIZE))


def test_argument_validation(linear):
    images = make_images()
    rel = true_relevance(3)
    t = np.zeros(3, int)
    with pytest.raises(ValueError, match="exceeds the 256 pixels"):
        CurveEvaluator(linear, images, t, pixels_per_step=K, steps=T + 1)
    with pytest.raises(ValueError, match="unknown pixel order"):
        perturbation_curves(linear, images, rel, t, "middle", K, 4)
    with pytest.raises(ValueError, match=r"relevance must have shape"):
        perturbation_curves(linear, images, rel[:, :8], t, "morf", K, 4)
    with pytest.raises(ValueError, match="need a relevance map"):
        perturbation_curves(linear, images, None, t, "lerf", K, 4)
    with pytest.raises(ValueError, match="takes images of shape"):
        perturbation_curves(linear, images[:, :8], rel, t, "morf", K, 4)
    with pytest.raises(ValueError, match="targets must be in"):
        perturbation_curves(linear, images, rel, np.array([0, 1, CLASSES]), "morf", K, 4)
    with pytest.raises(ValueError, match="targets must be 3"):
        perturbation_curves(linear, images, rel, np.zeros(2, int), "morf", K, 4)
    with pytest.raises(ValueError, match="per-image seeds for 3 images"):
        perturbation_curves(linear, images, rel, t, "morf", K, 4, seed=[1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        perturbation_curves(linear, images, rel, t, "morf", K, 4, seed=-1)
    with pytest.raises(ValueError, match="pixels_per_step must be a positive int"):
        perturbation_curves(linear, images, rel, t, "morf", 0, 4)


# -- ABPC ----------------------------------------------------------------------------
def test_abpc_known_curves():
    lerf = np.array([[1.0, 1.0, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    morf = np.array([[1.0, 0.0, 0.0, 0.0], [2.0, 3.0, 1.0, 0.0]])
    s = abpc(lerf, morf)
    np.testing.assert_allclose(s.sum, [2.0, 0.0 + (-1.0) + 1.0 + 2.0])
    np.testing.assert_allclose(s.mean, [2.0 / 3, 2.0 / 3])
    assert s.steps == 3
    one = abpc(lerf[0], morf[0])
    assert one.sum == 2.0
    with pytest.raises(ValueError, match="step 0"):
        abpc(np.array([1.0, 1.0]), np.array([0.0, 0.0]))
    with pytest.raises(ValueError, match="differ in shape"):
        abpc(lerf, morf[:, :3])


# -- PNG size and SSIM ---------------------------------------------------------------
def test_png_size():
    rng = np.random.default_rng(0)
    const = np.full((64, 64), 128, np.uint8)
    noise = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    assert png_size(const) < png_size(noise)
    assert png_size(noise) == png_size(noise.copy())
    assert png_size(const, level=0) > png_size(const, level=9)
    assert metrics.PNG_COMPRESS_LEVEL == 9
    buf = io.BytesIO()
    Image.fromarray(noise, mode="L").save(buf, format="PNG", compress_level=9)
    assert png_size(noise) == buf.tell()
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        assert img.mode == "L"
    with pytest.raises(ValueError, match="uint8 grayscale"):
        png_size(noise.astype(np.float32))


def test_ssim_to_image():
    rng = np.random.default_rng(1)
    level = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    level[10:30, 10:30] = 250  # structure
    gray_image = np.repeat(level[..., None], 3, axis=2)  # R = G = B: its grayscale is `level`
    assert ssim_to_image(level, gray_image) == pytest.approx(1.0, abs=1e-9)
    colour = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    gray = np.rint(colour @ np.array([0.2125, 0.7154, 0.0721])).astype(np.uint8)  # ITU-R 709 luma
    assert ssim_to_image(gray, colour) > 0.999
    unrelated = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    assert abs(ssim_to_image(unrelated, colour)) < 0.1
    with pytest.raises(ValueError, match="differ in size"):
        ssim_to_image(level[:20], gray_image)


# -- summaries -----------------------------------------------------------------------
def test_summarise():
    v = np.random.default_rng(2).gamma(2.0, 3.0, size=50)
    s = summarise(v, n_boot=2000, seed=3)
    assert s.mean == pytest.approx(v.mean()) and s.std == pytest.approx(v.std(ddof=1)) and s.n == 50
    assert s.ci_low < s.mean < s.ci_high
    assert s == summarise(v, n_boot=2000, seed=3)  # deterministic
    assert s == summarise(v, n_boot=2000, seed=3, chunk=7)  # chunking does not matter
    assert s.ci_low != summarise(v, n_boot=2000, seed=4).ci_low
    # the percentile CI of the mean is about mean +- 1.96 standard errors for 50 values
    se = v.std(ddof=1) / np.sqrt(50)
    assert s.ci_high - s.ci_low == pytest.approx(2 * 1.96 * se, rel=0.2)
    single = summarise([4.0])
    assert single.mean == single.ci_low == single.ci_high == 4.0 and np.isnan(single.std)
    with pytest.raises(ValueError, match="NaN"):
        summarise([1.0, np.nan])
    with pytest.raises(ValueError, match="empty"):
        summarise([])


def test_subset_shares_step0_and_matches_the_full_evaluator(linear, monkeypatch):
    images = make_images(n=4)
    ev = CurveEvaluator(linear, images, np.zeros(4, int), pixels_per_step=K, steps=6, seed=3, batch_size=8)
    ev.unperturbed_logits()
    rel = true_relevance(4, jitter_seed=1)
    full = ev.curves(rel, "morf")
    calls = []
    real = type(linear).logits
    monkeypatch.setattr(type(linear), "logits", lambda self, x, batch_size=32: calls.append(len(x)) or real(self, x, batch_size))
    part = ev.subset([3, 1]).curves(rel[[3, 1]], "morf")
    np.testing.assert_array_equal(part.logits, full.logits[[3, 1]])
    assert sum(calls) == 2 * 6  # perturbed images only: step 0 came from the parent


def test_blurred_r_measures_agreement_beyond_pixel_noise():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.random((64, 64)), 6)
    assert metrics.blurred_r(smooth, smooth) == pytest.approx(1.0)
    assert metrics.blurred_r(smooth, 3 * smooth + 2) == pytest.approx(1.0)  # affine-invariant
    assert metrics.blurred_r(smooth, -smooth) == pytest.approx(-1.0)
    noisy = smooth + 0.05 * rng.standard_normal((64, 64))  # same structure, independent pixel noise
    raw = float(np.corrcoef(smooth.ravel(), noisy.ravel())[0, 1])
    assert metrics.blurred_r(smooth, noisy) > raw + 0.2
