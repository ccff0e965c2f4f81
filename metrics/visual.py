"""Visual-quality metrics of a grayscale saliency map (the thesis's Tables 1 and 2).

* :func:`png_size`: bytes of the map as an 8-bit grayscale PNG (lossless compression
  as a measure of high-frequency noise; smaller is smoother).
* :func:`ssim_to_image`: structural similarity between the map and the grayscale input.

Both take the uint8 map from :func:`metrics.grayscale_map`.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

PNG_COMPRESS_LEVEL = 9
"""zlib level used for PNG sizes (PIL ``compress_level``; ``optimize`` off, no metadata)."""


def _check_gray(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a uint8 grayscale map (H, W) (see grayscale_map); got {gray.dtype} {gray.shape}")
    return gray


def png_size(gray: np.ndarray, level: int = PNG_COMPRESS_LEVEL) -> int:
    """Bytes of ``gray`` (uint8, (H, W)) written as an 8-bit grayscale PNG at zlib ``level``."""
    gray = _check_gray(gray)
    if not 0 <= int(level) <= 9:
        raise ValueError(f"PNG compression level must be 0..9; got {level}")
    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buf, format="PNG", compress_level=int(level), optimize=False)
    return buf.tell()


def image_to_gray(image_rgb: np.ndarray) -> np.ndarray:
    """float64 (H, W) in [0, 255]: skimage's ``rgb2gray`` (ITU-R 709 luma) times 255."""
    image_rgb = np.asarray(image_rgb)
    if image_rgb.ndim != 3 or image_rgb.shape[-1] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3); got {image_rgb.dtype} {image_rgb.shape}")
    gray: np.ndarray = rgb2gray(image_rgb) * 255.0  # rgb2gray scales uint8 to [0, 1]
    return gray


def ssim_to_image(gray_map: np.ndarray, image_rgb: np.ndarray) -> float:
    """SSIM between the uint8 map and the grayscale input (data_range 255, default 7x7 window)."""
    gray_map = _check_gray(gray_map)
    gray_img = image_to_gray(image_rgb)
    if gray_map.shape != gray_img.shape:
        raise ValueError(f"map {gray_map.shape} and image {gray_img.shape[:2]} differ in size; maps are at the input's size")
    return float(structural_similarity(gray_map.astype(np.float64), gray_img, data_range=255.0))
