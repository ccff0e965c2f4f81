"""The thesis's observations on model discovery (Section 4.3), each a measured statement on the
discovery table (:data:`bench.studies.discovery.records.CSV_COLUMNS`): per model (or across
models) "held", "not held" or "not examined", with the numbers that decided it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

RESNET = "resnet50"
MARGIN = 0.01
"""A difference counts only when it exceeds this fraction of the larger magnitude (so that
two equal values that differ in the sixth digit do not decide an observation)."""


@dataclass(frozen=True)
class Verdict:
    subject: str
    """The model (or 'all models') the test ran on."""
    status: str
    """'held', 'not held' or 'not examined'."""
    evidence: str


def _means(df: pd.DataFrame, model: str, column: str) -> pd.Series:
    """Mean over images of ``column`` per position, for ``model``."""
    return df[df["model"] == model].groupby("position")[column].mean()


def _per_image(df: pd.DataFrame, model: str, column: str) -> pd.DataFrame:
    """image x position table of ``column`` for ``model``."""
    return df[df["model"] == model].pivot(index="image_id", columns="position", values=column)


def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def _beyond(a, b):
    """Whether ``b`` exceeds ``a`` by more than :data:`MARGIN` of the larger magnitude (elementwise)."""
    return (b - a) > MARGIN * np.maximum(np.abs(a), np.abs(b))


def _positions(ps: list[int]) -> str:
    return f"positions {ps[0]}-{ps[-1]}" if len(ps) > 1 else f"position {ps[0]}"


def _compare_positions(df, column: str, early: list[int], late: list[int], late_smaller: bool, unit: str = ""):
    """Per model: held when the mean over images of ``column`` averaged over positions ``late``
    is smaller (``late_smaller``) / larger than over ``early``, by more than :data:`MARGIN`; the
    evidence gives the per-position means and in how many images the same held."""
    verdicts = []
    for model in df["model"].unique():
        means, table = _means(df, model, column), _per_image(df, model, column)
        a, b = means[early].mean(), means[late].mean()
        per_image_a, per_image_b = table[early].mean(axis=1), table[late].mean(axis=1)
        if late_smaller:
            held, images = _beyond(b, a), int(_beyond(per_image_b, per_image_a).sum())
        else:
            held, images = _beyond(a, b), int(_beyond(per_image_a, per_image_b).sum())
        verdicts.append(
            Verdict(
                model,
                "held" if held else "not held",
                f"{_positions(early)}: {_fmt(means[early])}{unit} (mean {a:.3g}); {_positions(late)}: "
                f"{_fmt(means[late])}{unit} (mean {b:.3g}); the same in {images} of {len(table)} images",
            )
        )
    return verdicts


def spread_gathers(df: pd.DataFrame) -> list[Verdict]:
    """The masks spread over the image in the first two examined layers, then gather: the mean
    spread at positions 1-2 is larger (by more than 1%) than at positions 4-5 (per model; mean
    over images)."""
    return _compare_positions(df, "spread", [1, 2], [4, 5], late_smaller=True)


def concentrates_on_subject(df: pd.DataFrame) -> list[Verdict]:
    """In the last module the masks concentrate on what the classifier recognises: the mean r
    to the logits' mask (position 6) is higher (by more than 1%) at positions 4-5 than at
    positions 1-2. (The
    images come without object boxes, so the logits' mask stands in for "the subject".)"""
    return _compare_positions(df, "r_to_logits", [1, 2], [4, 5], late_smaller=False)


def loss_falls(df: pd.DataFrame) -> list[Verdict]:
    """The loss term falls over the last module: the mean loss term at position 5 is below that
    at position 4, by more than 1% (per model; mean over images)."""
    return _compare_positions(df, "loss_term_pct", [4], [5], late_smaller=True, unit="%")


def _resnet_highest(df: pd.DataFrame, column: str, what: str, unit: str) -> list[Verdict]:
    models = list(df["model"].unique())
    if RESNET not in models or len(models) < 2:
        return [
            Verdict("all models", "not examined", f"needs {RESNET} and at least one other model (models: {', '.join(models)})")
        ]
    at6 = {m: _means(df, m, column)[6] for m in models}
    others = {m: v for m, v in at6.items() if m != RESNET}
    held = all(_beyond(v, at6[RESNET]) for v in others.values())
    listing = "; ".join(f"{m} {v:.3g}{unit}" for m, v in at6.items())
    return [Verdict("all models", "held" if held else "not held", f"mean {what} at position 6: {listing}")]


def resnet_keeps_more_loss(df: pd.DataFrame) -> list[Verdict]:
    """ResNet keeps more loss than the others at position 6: resnet50's mean loss term at
    position 6 is above every other model's by more than 1% (examined only when resnet50 and another model ran)."""
    return _resnet_highest(df, "loss_term_pct", "loss term", "%")


def resnet_keeps_more_background(df: pd.DataFrame) -> list[Verdict]:
    """ResNet keeps more background: resnet50's mean spread at position 6 is above every other
    model's by more than 1% (examined only when resnet50 and another model ran)."""
    return _resnet_highest(df, "spread", "spread", "")


@dataclass(frozen=True)
class Observation:
    thesis: str
    """What the thesis says (Section 4.3)."""
    test: Callable[[pd.DataFrame], list[Verdict]]

    @property
    def definition(self) -> str:
        return " ".join((self.test.__doc__ or "").split())


OBSERVATIONS = [
    Observation("The saliency points first spread over the image in the first two layers and then gather.", spread_gathers),
    Observation("Finally, it gradually concentrates on the recognized subject in the last modules.", concentrates_on_subject),
    Observation("The losses gradually decrease at the last module.", loss_falls),
    Observation("ResNet has more losses in the final few layers ...", resnet_keeps_more_loss),
    Observation("... and keeps more background.", resnet_keeps_more_background),
]
