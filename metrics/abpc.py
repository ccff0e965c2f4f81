"""Area between the LeRF and MoRF perturbation curves (ABPC; the thesis's Table 3).

Both curves start at step 0 (the unperturbed image, the same score in both) and end at
step T. The area uses steps 1..T:

* ``mean``: mean over steps 1..T of (LeRF - MoRF), independent of the step count;
* ``sum``:  sum over steps 1..T of (LeRF - MoRF), the thesis's scale (Table 3 suggests a
  sum over its 800 steps).

Step 0 contributes LeRF[0] - MoRF[0] = 0, so the sum would be the same over 0..T; only the
mean's divisor (T, not T+1) depends on this choice. The unit is the curves' unit: pass
``Curves.logits`` for logits or ``Curves.probs`` (times 100 for percent) for probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ABPC:
    mean: np.ndarray
    """Per image: mean over steps 1..T of (LeRF - MoRF)."""
    sum: np.ndarray
    """Per image: sum over steps 1..T of (LeRF - MoRF)."""
    steps: int


def _values(curve: npt.ArrayLike) -> np.ndarray:
    if hasattr(curve, "logits") and hasattr(curve, "probs"):
        raise TypeError("pass Curves.logits or Curves.probs (ABPC needs to know the unit), not a Curves object")
    return np.asarray(curve, dtype=np.float64)


def abpc(lerf: npt.ArrayLike, morf: npt.ArrayLike, check_step0: bool = True) -> ABPC:
    """ABPC per image from curves of shape (N, T+1) or (T+1,), step 0 first.

    ``check_step0``: raise if the two curves' step 0 differ (a sign the curves do not
    include step 0, or come from different images or targets).
    """
    lerf, morf = _values(lerf), _values(morf)
    if lerf.shape != morf.shape:
        raise ValueError(f"LeRF and MoRF curves differ in shape: {lerf.shape} vs {morf.shape}")
    if lerf.ndim not in (1, 2) or lerf.shape[-1] < 2:
        raise ValueError(f"curves must be (N, T+1) or (T+1,) with T >= 1, step 0 first; got shape {lerf.shape}")
    if not (np.all(np.isfinite(lerf)) and np.all(np.isfinite(morf))):
        raise ValueError("curves contain NaN or infinite values")
    if check_step0 and not np.allclose(lerf[..., 0], morf[..., 0], rtol=1e-5, atol=1e-6):
        raise ValueError(
            "LeRF and MoRF differ at step 0; curves must start at the unperturbed score of the same "
            "image and target (pass check_step0=False to skip this check)"
        )
    diff = lerf[..., 1:] - morf[..., 1:]
    return ABPC(mean=diff.mean(axis=-1), sum=diff.sum(axis=-1), steps=diff.shape[-1])
