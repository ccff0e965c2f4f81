"""Matplotlib on the Agg backend (no display needed) and the one way a figure is saved:
atomically, as PNG, so a killed process never leaves half a figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from common.files import atomic_path  # noqa: E402

__all__ = ["plt", "save_figure"]


def save_figure(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` (PNG, 110 dpi) atomically and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
