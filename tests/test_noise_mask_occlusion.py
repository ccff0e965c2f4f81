"""Noise Mask and occlusion against a model whose relevant pixels are known."""

from __future__ import annotations

import numpy as np
import pytest

import methods


def test_noise_mask_keeps_the_square_and_drops_the_rest(square_model, square_images, square_mask):
    result = methods.explain("noise_mask", square_model, square_images, max_iterations=3000, window=250, batch_size=3)
    for mask in result.relevance:
        kept = mask > 0.5
        iou = (kept & square_mask).sum() / (kept | square_mask).sum()
        # The square's border pixels feed only 1-3 of the unpadded 3x3 conv's outputs, so a
        # few may legitimately be dropped; measured IoU 0.87-0.92 (seed 0).
        assert iou >= 0.8
        assert mask[~square_mask].max() < 0.2  # nothing outside the square matters to the model
    info = result.diagnostics
    assert info["converged"].all() and (info["iterations"] < 3000).all()
    assert np.all((info["preservation"] > 0.1) & (info["preservation"] < 0.35))  # the square is 25% of the image
    assert np.all(info["loss_term_pct"] / 100 < 0.1)
    trace = result.series["trace"]
    assert trace.shape[0] == 3 and np.nanmean(trace[:, -100:]) < np.nanmean(trace[:, :100])
    assert result.params["learning_rate"] == 0.015


def test_noise_mask_is_deterministic_and_batch_independent(square_model, square_images):
    kwargs = dict(max_iterations=300, window=100, seed=5)
    together = methods.explain("noise_mask", square_model, square_images[:2], batch_size=2, **kwargs)
    again = methods.explain("noise_mask", square_model, square_images[:2], batch_size=2, **kwargs)
    np.testing.assert_array_equal(together.relevance, again.relevance)
    # an image gets the same noise in any batch: optimising it alone gives the same mask
    alone = methods.explain("noise_mask", square_model, square_images[1:2], batch_size=1, **kwargs)
    np.testing.assert_allclose(alone.relevance[0], together.relevance[1], atol=1e-4)
    other_seed = methods.explain("noise_mask", square_model, square_images[:2], batch_size=2, **{**kwargs, "seed": 6})
    assert np.abs(together.relevance - other_seed.relevance).max() > 1e-3


def test_noise_mask_intermediate_layer_and_beta0(square_model, square_images):
    layer = square_model.keras_model.layers[3].name  # the ReLU feature map
    result = methods.explain("noise_mask", square_model, square_images[:1], layer=layer, max_iterations=200, window=100)
    # beta0 normalises the loss term so that pure noise scores ~1: at the start (M ~ 0.95) it is tiny
    assert 0 < result.diagnostics["loss_term_pct"][0] / 100 < 1
    assert result.params["layer"] == layer


def test_occlusion_top_relevance_inside_square(square_model, square_images, square_mask):
    result = methods.explain("perturbation", square_model, square_images, patch_size=4, stride=2)
    for rel in result.relevance:
        r, c = np.unravel_index(np.abs(rel).argmax(), rel.shape)
        assert square_mask[r, c]
        # patches that touch no square pixel change nothing
        far = np.ones_like(square_mask)
        rows, cols = np.nonzero(square_mask)
        far[rows.min() - 3 : rows.max() + 4, cols.min() - 3 : cols.max() + 4] = False
        np.testing.assert_allclose(rel[far], 0.0, atol=1e-5)


def test_occlusion_matches_explicit_loop(square_model, square_images):
    """Batched occlusion equals a one-patch-at-a-time computation."""
    result = methods.explain("perturbation", square_model, square_images[:1], patch_size=8, stride=8, batch_size=3)
    x = square_images[0].astype(np.float32) / 127.5 - 1.0
    target = result.targets[0]
    base = square_model.keras_model(x[None]).numpy()[0, target]
    expected = np.zeros((32, 32))
    for r in range(0, 32, 8):
        for c in range(0, 32, 8):
            occ = x.copy()
            occ[r : r + 8, c : c + 8] = 0.0
            expected[r : r + 8, c : c + 8] = base - square_model.keras_model(occ[None]).numpy()[0, target]
    np.testing.assert_allclose(result.relevance[0], expected, rtol=1e-4, atol=1e-4)


def test_unknown_parameter_is_named(square_model, square_images):
    with pytest.raises(TypeError, match="patch"):
        methods.explain("noise_mask", square_model, square_images, patch=3)


@pytest.mark.parametrize(
    "name, params",
    [
        ("noise_mask", {"max_iterations": 20, "window": 10, "beta_draws": 2, "eval_draws": 2}),
        ("perturbation", {"patch_size": 32, "stride": 32}),
    ],
)
def test_on_efficientnet_lite0_with_shared_images(shared_sample, name, params):
    from bench.datasets import load_image_set
    from models import get_model

    model = get_model("efficientnet_lite0")
    images = load_image_set(shared_sample, size=model.input_size, limit=4).pixels
    first = methods.explain(name, model, images, **params)
    second = methods.explain(name, model, images, **params)
    assert first.relevance.shape == (4, 224, 224)
    assert np.isfinite(first.relevance).all()
    assert all(r.std() > 0 for r in first.relevance)
    np.testing.assert_array_equal(first.relevance, second.relevance)
    if name == "noise_mask":  # the seed matters: another noise sequence, another mask
        other = methods.explain(name, model, images, **{**params, "seed": 1})
        assert np.abs(other.relevance - first.relevance).max() > 1e-3
