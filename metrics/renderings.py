"""Named renderings of a relevance map as the 8-bit grayscale image that PNG size and SSIM use.

The suite's map (``abs-p99.5``) is an assumption: the thesis converts "the saliency map and
the input image into grayscale", which suggests rendered (RGB) maps. These renderings are
the candidates for reproducing its Tables 1-2. A colour rendering is drawn as the 8-bit RGB
image matplotlib would write (colormap look-up table; float colours truncated to bytes, as
matplotlib's ``to_rgba(..., bytes=True)`` does), then converted with
:func:`metrics.visual.image_to_gray`, the conversion the input image goes through for SSIM,
and rounded to uint8. Relevance is taken as float64.

* ``abs-p99.5``: the suite's map, :func:`metrics.grayscale_map`.
* ``deepexplain-heatmap``: DeepExplain's ``examples/utils.py`` ``plot(data)`` without its
  edge overlay (drawn only when ``xi`` is passed; it is the input's Canny edges, an image
  feature rather than the method's, and would blend the image into a map compared with it):
  ``imshow(data, cmap='RdBu_r', vmin=-abs_max, vmax=abs_max)`` with
  ``abs_max = np.percentile(np.abs(data), percentile)``, ``percentile=100`` (its default).
  ``plot`` takes the percentile over ``data`` as given and only then averages a 3-D map
  over channels; our signed relevance is already the channel sum (metrics/relevance_maps.py), so for
  3-channel attributions this is an approximation: ``plot`` divides the channel mean by a
  percentile of the single-channel values, we divide the channel sum by the same percentile
  of the sums, so ``plot``'s colours are paler unless the channels agree (for a one-channel
  map they are the same). As in matplotlib, a map whose ``abs_max`` is 0
  (all zero) is drawn in the colormap's lowest colour (``Normalize`` maps everything to 0 when
  ``vmin == vmax``), not its centre.
* ``deepexplain-heatmap-p99``: the same with ``percentile=99``, the setting of DeepExplain's
  ``examples/inception_tensorflow.ipynb`` (Inception V3, 299x299, the thesis's setting).
* ``innvestigate-graymap``: iNNvestigate's example ``graymap(X) =
  ivis.graymap(np.abs(X), input_is_positive_only=True)`` (``examples/utils/imagenet.py``;
  ``ivis`` is ``innvestigate/utils/visualizations.py``): abs, divided by its maximum,
  ``int64(x * 255)`` indexes matplotlib's ``gray`` colormap. The example sums abs over
  channels; we take abs of the channel sum.
* ``innvestigate-heatmap``: the example ``heatmap(X) = ivis.heatmap(X)``: channel sum (ours
  already is), divided by its abs maximum, ``(x + 1) / 2``, ``int64(x * 255)`` indexes the
  ``seismic`` colormap. ``ivis`` returns float32 colours; they become bytes as matplotlib's
  ``imshow``/``imsave`` would make them.
* For a mask M in [0, 1] (Noise Mask's relevance) and the input image X: ``mask`` (M * 255),
  ``inverted-mask`` ((1 - M) * 255), ``masked-image`` (X * M on black) and
  ``masked-image-grey`` (X * M + 128 * (1 - M), on mid-grey); the composites are rounded to
  uint8 RGB before the gray conversion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .relevance_maps import _check_map, grayscale_map
from .visual import image_to_gray

MASK_TOLERANCE = 1e-6
"""How far outside [0, 1] a mask may stray (float error) before it is rejected; it is then clipped."""


def _gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W) of a uint8 RGB render, through the input image's conversion."""
    gray: np.ndarray = np.rint(image_to_gray(rgb)).astype(np.uint8)
    return gray


def _deepexplain(relevance: np.ndarray, percentile: float) -> np.ndarray:
    from matplotlib import colormaps  # noqa: PLC0415 - matplotlib: ~0.2 s to import, for two renderings only
    from matplotlib.colors import Normalize  # noqa: PLC0415 - as above

    abs_max = np.percentile(np.abs(relevance), percentile)
    norm = Normalize(vmin=-abs_max, vmax=abs_max)
    return _gray(colormaps["RdBu_r"](norm(relevance), bytes=True)[..., :3])


def _innvestigate(relevance: np.ndarray, cmap: str, positive_only: bool) -> np.ndarray:
    """ivis.heatmap(cmap_type=cmap) of one image whose channels are already summed (ivis.project inlined)."""
    from matplotlib import colormaps  # noqa: PLC0415 - matplotlib: ~0.2 s to import, for two renderings only

    absmax = np.max(np.abs(relevance))
    x = relevance / absmax if absmax != 0 else relevance
    if not positive_only:
        x = (x + 1) / 2
    index = (x.clip(0, 1) * 255).astype(np.int64)
    rgb = colormaps[cmap](index)[..., :3].astype(np.float32)
    return _gray((rgb * 255).astype(np.uint8))


def _bytes(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 255.0).astype(np.uint8)


def _composite(image: np.ndarray, mask: np.ndarray, background: float) -> np.ndarray:
    m = mask[..., None]
    return _gray(np.rint(image * m + background * (1.0 - m)).astype(np.uint8))


_RENDERERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "abs-p99.5": lambda r, x: grayscale_map(r),
    "deepexplain-heatmap": lambda r, x: _deepexplain(r, 100.0),
    "deepexplain-heatmap-p99": lambda r, x: _deepexplain(r, 99.0),
    "innvestigate-graymap": lambda r, x: _innvestigate(np.abs(r), "gray", positive_only=True),
    "innvestigate-heatmap": lambda r, x: _innvestigate(r, "seismic", positive_only=False),
    "mask": lambda m, x: _bytes(m),
    "inverted-mask": lambda m, x: _bytes(1.0 - m),
    "masked-image": lambda m, x: _composite(x, m, 0.0),
    "masked-image-grey": lambda m, x: _composite(x, m, 128.0),
}

RENDERINGS = tuple(_RENDERERS)
"""Names :func:`render_map` accepts, in a stable order (see the module docstring for each)."""

MASK_RENDERINGS = ("mask", "inverted-mask", "masked-image", "masked-image-grey")
"""The renderings whose relevance must be a mask in [0, 1]."""


def _check_mask(mask: np.ndarray) -> np.ndarray:
    low, high = float(mask.min()), float(mask.max())
    if low < -MASK_TOLERANCE or high > 1.0 + MASK_TOLERANCE:
        raise ValueError(f"mask renderings need a mask in [0, 1]; got values in [{low:g}, {high:g}]")
    return mask.clip(0.0, 1.0)


def render_map(relevance: np.ndarray, image: np.ndarray, rendering: str) -> np.ndarray:
    """uint8 (H, W): ``relevance`` (H, W) drawn as ``rendering`` (a name in :data:`RENDERINGS`).

    ``image`` is the input, uint8 (H, W, 3) in [0, 255]; the ``masked-image`` renderings
    draw it, the others only check its shape. For :data:`MASK_RENDERINGS` ``relevance`` is
    the mask, in [0, 1] up to :data:`MASK_TOLERANCE`.
    """
    if rendering not in _RENDERERS:
        raise ValueError(f"unknown rendering {rendering!r}; expected one of {RENDERINGS}")
    relevance = _check_map(relevance).astype(np.float64)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.shape != (*relevance.shape, 3):
        raise ValueError(
            f"image must be uint8 of shape {(*relevance.shape, 3)} (the map's size, RGB); got {image.dtype} {image.shape}"
        )
    if rendering in MASK_RENDERINGS:
        relevance = _check_mask(relevance)
    return _RENDERERS[rendering](relevance, image)


def bits_per_pixel(png_bytes: int, shape: tuple[int, ...]) -> float:
    """``8 * png_bytes / (H * W)``: a PNG size (e.g. from :func:`metrics.png_size`) per pixel of a map of ``shape`` (H, W, ...).

    Compares sizes across map sizes (the thesis's maps are 299x299, ours may differ).
    """
    height, width = shape[:2]
    if height <= 0 or width <= 0 or png_bytes < 0:
        raise ValueError(f"need a size >= 0 and a non-empty shape; got {png_bytes} bytes, shape {shape}")
    return 8.0 * png_bytes / (height * width)
