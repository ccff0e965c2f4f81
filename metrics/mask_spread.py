"""How far a mask's kept pixels spread over the image: the measure behind thesis Section 4.3
("Model discovery"), whose first observation is that the saliency points of Noise Mask's masks
"first spread over the image in the first two layers and then gather", and that ResNet "keeps
more background" in its last layers (:mod:`bench.studies.discovery.observations` tests both).
"""

from __future__ import annotations

import numpy as np

__all__ = ["spread"]


def spread(mask: np.ndarray) -> float:
    """How far a mask's kept pixels spread over the image, as a fraction of the image side.

    Weights w = M / sum(M) (Noise Mask's M is ~1 where the network needs the pixel and ~0
    where noise may replace it, so the weights are the kept pixels). With (r, c) the row and
    column index of each pixel and var_r, var_c their w-weighted variances:

        spread = sqrt(var_r / H^2 + var_c / W^2)

    i.e. the w-weighted root-mean-square distance of the pixels from the mask's centroid, in
    units of the side (sqrt(var_r + var_c) / n for an n x n image). A single pixel gives 0; a
    uniform mask sqrt((n^2 - 1) / 6) / n (about 0.408); a mask on one small blob little more
    than the blob's radius / n. An all-zero mask gives NaN.
    """
    m = np.asarray(mask, np.float64)
    total = m.sum()
    if not np.isfinite(total) or total <= 0:
        return float("nan")
    h, w = m.shape
    rows, cols = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    p_rows, p_cols = m.sum(axis=1) / total, m.sum(axis=0) / total
    var_r = p_rows @ (rows - p_rows @ rows) ** 2
    var_c = p_cols @ (cols - p_cols @ cols) ** 2
    return float(np.sqrt(var_r / h**2 + var_c / w**2))
