"""Named map renderings (metrics.renderings): shapes, the suite's map, masks, DeepExplain's and iNNvestigate's colour maps."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colormaps

from metrics import MASK_RENDERINGS, RENDERINGS, bits_per_pixel, grayscale_map, image_to_gray, render_map

H, W = 12, 10


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)


def gray(rgb) -> np.ndarray:
    """uint8 gray of uint8 RGB pixels, the conversion the renderings promise."""
    return np.rint(image_to_gray(np.asarray(rgb, np.uint8).reshape(-1, 1, 3))).astype(np.uint8).reshape(np.shape(rgb)[:-1])


def colour_gray(cmap: str, value) -> int:
    """Gray of the colour matplotlib draws for ``value`` (a float in [0, 1]) in ``cmap``."""
    return int(gray(colormaps[cmap](value, bytes=True)[:3]))


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_rendering_gives_a_uint8_map_of_the_input_size(rendering, image):
    rng = np.random.default_rng(2)
    relevance = rng.uniform(0, 1, (H, W)) if rendering in MASK_RENDERINGS else rng.normal(size=(H, W))
    out = render_map(relevance, image, rendering)
    assert out.dtype == np.uint8 and out.shape == (H, W)


def test_names_are_unique_and_include_the_requested_ones():
    assert len(set(RENDERINGS)) == len(RENDERINGS)
    assert set(MASK_RENDERINGS) <= set(RENDERINGS)
    assert {"abs-p99.5", "deepexplain-heatmap", "innvestigate-graymap", "innvestigate-heatmap"} <= set(RENDERINGS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_abs_p99_5_is_the_spec_map(image, dtype):
    relevance = np.random.default_rng(3).normal(size=(H, W)).astype(dtype)
    np.testing.assert_array_equal(render_map(relevance, image, "abs-p99.5"), grayscale_map(relevance))


def test_mask_renderings_of_an_all_ones_mask(image):
    ones = np.ones((H, W))
    assert (render_map(ones, image, "mask") == 255).all()
    assert (render_map(ones, image, "inverted-mask") == 0).all()
    np.testing.assert_array_equal(render_map(ones, image, "masked-image"), gray(image))
    np.testing.assert_array_equal(render_map(ones, image, "masked-image-grey"), gray(image))


def test_mask_renderings_of_an_all_zeros_mask(image):
    zeros = np.zeros((H, W))
    assert (render_map(zeros, image, "mask") == 0).all()
    assert (render_map(zeros, image, "inverted-mask") == 255).all()
    assert (render_map(zeros, image, "masked-image") == 0).all()
    mid_grey = int(gray([128, 128, 128]))
    assert mid_grey == 128  # the luma weights sum to 1
    assert (render_map(zeros, image, "masked-image-grey") == mid_grey).all()


def test_masked_image_keeps_the_image_only_where_the_mask_is_on(image):
    mask = np.zeros((H, W))
    mask[:, : W // 2] = 1.0
    mask[0, -1] = 0.5
    shown = render_map(mask, image, "masked-image")
    np.testing.assert_array_equal(shown[:, : W // 2], gray(image)[:, : W // 2])
    assert (shown[1:, W // 2 :] == 0).all()
    assert shown[0, -1] == gray(np.rint(image[0, -1] * 0.5))
    assert render_map(mask, image, "mask")[0, -1] == 128  # rint(127.5), half to even


def test_deepexplain_draws_zero_in_the_centre_colour_and_the_extremes_at_the_ends(image):
    relevance = np.zeros((H, W))
    relevance[0, :] = 2.0
    relevance[1, :] = -2.0
    out = render_map(relevance, image, "deepexplain-heatmap")
    assert (out[2:] == colour_gray("RdBu_r", 0.5)).all()
    assert (out[0] == colour_gray("RdBu_r", 1.0)).all()
    assert (out[1] == colour_gray("RdBu_r", 0.0)).all()
    assert colour_gray("RdBu_r", 1.0) != colour_gray("RdBu_r", 0.0)
    flipped = render_map(-relevance, image, "deepexplain-heatmap")
    np.testing.assert_array_equal(flipped[0], out[1])
    np.testing.assert_array_equal(flipped[1], out[0])
    np.testing.assert_array_equal(flipped[2:], out[2:])


def test_deepexplain_is_scale_invariant(image):
    # integer-valued relevance keeps (7r + 7m) / (14m) == (r + m) / (2m) exact in float arithmetic
    relevance = np.random.default_rng(4).integers(-50, 51, (H, W)).astype(np.float64)
    for name in ("deepexplain-heatmap", "deepexplain-heatmap-p99"):
        np.testing.assert_array_equal(render_map(7 * relevance, image, name), render_map(relevance, image, name))


def test_deepexplain_all_zero_map_is_drawn_as_matplotlib_draws_it(image):
    # plot() gives imshow vmin == vmax == 0; matplotlib's Normalize then maps every value to 0
    out = render_map(np.zeros((H, W)), image, "deepexplain-heatmap")
    assert (out == colour_gray("RdBu_r", 0.0)).all()


@pytest.mark.parametrize("rendering, percentile", [("deepexplain-heatmap", 100), ("deepexplain-heatmap-p99", 99)])
def test_deepexplain_matches_the_pixels_imshow_draws(image, rendering, percentile):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    relevance = np.random.default_rng(5).normal(size=(H, W)) ** 3
    abs_max = np.percentile(np.abs(relevance), percentile)
    fig = Figure(figsize=(W / 10, H / 10), dpi=10)  # one screen pixel per map pixel
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    ax.imshow(relevance, interpolation="none", cmap="RdBu_r", vmin=-abs_max, vmax=abs_max)  # plot()'s call
    canvas.draw()
    drawn = np.asarray(canvas.buffer_rgba())[..., :3]
    assert drawn.shape == (H, W, 3)
    np.testing.assert_array_equal(render_map(relevance, image, rendering), gray(drawn))


@pytest.fixture(scope="module")
def ivis():
    """innvestigate/utils/visualizations.py, loaded alone: the package's __init__ imports TensorFlow."""
    spec = importlib.util.find_spec("innvestigate")
    if spec is None or spec.origin is None:
        pytest.skip("innvestigate is not installed (optional extra; absent on Python 3.12+)")
    path = Path(spec.origin).parent / "utils" / "visualizations.py"
    module_spec = importlib.util.spec_from_file_location("_ivis", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def ivis_gray(rgb: np.ndarray) -> np.ndarray:
    """ivis's float colours to bytes as matplotlib's imshow/imsave does, then to gray."""
    return gray((rgb * 255).astype(np.uint8))


@pytest.mark.parametrize("kind", ["normal", "zeros", "positive"])
def test_innvestigate_renderings_equal_innvestigate(ivis, image, kind):
    rng = np.random.default_rng(6)
    relevance = {"normal": rng.normal(size=(H, W)), "zeros": np.zeros((H, W)), "positive": rng.uniform(0, 3, (H, W))}[kind]
    batch = relevance[None, :, :, None]  # one image, one channel: ivis sums the channel axis
    graymap = ivis.graymap(np.abs(batch), input_is_positive_only=True)[0]  # the example's graymap(X)
    heatmap = ivis.heatmap(batch.copy())[0]  # the example's heatmap(X)
    np.testing.assert_array_equal(render_map(relevance, image, "innvestigate-graymap"), ivis_gray(graymap))
    np.testing.assert_array_equal(render_map(relevance, image, "innvestigate-heatmap"), ivis_gray(heatmap))


def test_innvestigate_graymap_runs_from_black_to_white(image):
    relevance = np.linspace(-1, 1, H * W).reshape(H, W)
    relevance[5, 5] = 0.0
    out = render_map(relevance, image, "innvestigate-graymap")
    assert out.max() == 255 and out.min() == 0
    np.testing.assert_array_equal(out, render_map(np.abs(relevance), image, "innvestigate-graymap"))


def test_unknown_rendering_names_the_choices(image):
    with pytest.raises(ValueError, match=r"unknown rendering 'jet'.*abs-p99\.5"):
        render_map(np.zeros((H, W)), image, "jet")


@pytest.mark.parametrize("rendering", MASK_RENDERINGS)
@pytest.mark.parametrize("bad", [1.01, -0.01])
def test_mask_renderings_reject_values_outside_0_1(image, rendering, bad):
    mask = np.full((H, W), 0.5)
    mask[3, 4] = bad
    with pytest.raises(ValueError, match=r"mask in \[0, 1\]"):
        render_map(mask, image, rendering)


def test_mask_renderings_allow_float_error(image):
    mask = np.full((H, W), 1.0 + 1e-7)
    mask[0, 0] = -1e-7
    expected = np.full((H, W), 255, np.uint8)
    expected[0, 0] = 0
    np.testing.assert_array_equal(render_map(mask, image, "mask"), expected)


def test_a_mask_is_allowed_in_the_other_renderings(image):
    mask = np.full((H, W), 0.25)
    mask[0, 0] = 1.0
    out = render_map(mask, image, "deepexplain-heatmap")
    assert out[0, 0] == colour_gray("RdBu_r", 1.0)
    assert out[1, 1] == colour_gray("RdBu_r", 0.625)


@pytest.mark.parametrize(
    "bad_image",
    [np.zeros((H, W, 3)), np.zeros((W, H, 3), np.uint8), np.zeros((H, W), np.uint8)],
    ids=["float", "transposed", "gray"],
)
def test_the_image_must_be_uint8_rgb_of_the_map_size(bad_image):
    with pytest.raises(ValueError, match="image must be uint8"):
        render_map(np.zeros((H, W)), bad_image, "abs-p99.5")


def test_bits_per_pixel():
    assert bits_per_pixel(1000, (10, 100)) == 8.0
    assert bits_per_pixel(299 * 299, (299, 299, 3)) == 8.0
    with pytest.raises(ValueError):
        bits_per_pixel(10, (0, 5))
    with pytest.raises(ValueError):
        bits_per_pixel(-1, (5, 5))
