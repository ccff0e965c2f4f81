"""A trust grade per metric ("high", "medium", "low") from its meta table, with each threshold
stated and where it comes from.

A metric is graded on the measures that say whether its *verdicts* can be trusted; each graded
measure is "high" at or above its ``high`` value, "low" below its ``low`` value, else
"medium", on its point value (the interval is printed beside it). The metric's grade is its
weakest measure's: "low" if any is low, "high" if every graded measure it has is high.

Not graded, reported only: ``inter_method_spearman`` (a high value says that the image sets the
score more than the method; the paired tests of ``bench check`` and the claims compare methods on
the same image, which takes that out), ``internal_consistency_morf`` (early MoRF drop and ABPC
weigh different parts of the curve; Tomsett et al. found such variants disagree, which is a
finding about the variants, not a flaw of one), ``inter_model_tau`` (another model may
legitimately be explained by other pixels), and the ``_scores`` variants (scale, not ranking).

Anchors: Tomsett et al., "Sanity Checks for Saliency Metrics" (AAAI 2020), use Krippendorff's
alpha for inter-rater reliability and read it against Krippendorff's conventions; Hedstrom et
al., "The Meta-Evaluation Problem in Explainable AI" (MetaQuantus, TMLR 2023), score a metric
1 when a minor perturbation leaves its rankings unchanged and a disruptive one changes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Criterion:
    measure: str
    high: float
    low: float
    why: str


CRITERIA = (
    Criterion(
        "inter_rater_alpha",
        0.667,
        0.2,
        "Krippendorff (Content Analysis, 2nd ed. 2004, on reliability standards): alpha >= 0.800 is reliable and 0.667 the lowest that allows "
        "tentative conclusions (Tomsett et al. read their alphas against these); below 0.2 the images agree on the "
        "method ranking little more than chance (the 'slight' band of chance-corrected agreement, Landis & Koch 1977)",
    ),
    Criterion(
        "internal_consistency_replacement_tau",
        0.6,
        0.2,
        "random colours and ROAD claim to measure the same faithfulness (Tomsett et al.'s internal consistency; their "
        "deletion metrics flipped with the replacement): Kendall's tau of the two method rankings >= 0.6 keeps at most "
        "a fifth of the method pairs swapped; below 0.2 the two rankings are nearly unrelated",
    ),
    Criterion(
        "noise_resilience",
        0.8,
        0.5,
        "MetaQuantus's noise resilience: a minor perturbation that keeps the predictions should leave the per-image "
        "ranking unchanged (tau 1); tau >= 0.8 swaps about one method pair in ten, below 0.5 one in four or more",
    ),
    Criterion(
        "adversary_reactivity",
        0.5,
        0.2,
        "MetaQuantus's adversary reactivity: the fully randomised model should change the per-image ranking "
        "(1 - tau >= 0.5: tau <= 0.5); below 0.2 (tau >= 0.8) the ranking survives the destruction of the model, as it "
        "would for a metric blind to the model",
    ),
)
LEVELS = ("low", "medium", "high")


def level(value: float, criterion: Criterion) -> str | None:
    if not np.isfinite(value):
        return None
    return "high" if value >= criterion.high else "low" if value < criterion.low else "medium"


def grade_table(table: pd.DataFrame) -> dict[str, dict]:
    """metric -> {"grade", "measures": {measure: [value, level]}, "weakest": measure} from meta.csv's rows."""
    grades: dict[str, dict] = {}
    for metric, part in table.groupby("metric", sort=False):
        values = dict(zip(part["measure"], part["value"].astype(float)))
        graded = {}
        for criterion in CRITERIA:
            found = level(values.get(criterion.measure, np.nan), criterion)
            if found is not None:
                graded[criterion.measure] = [values[criterion.measure], found]
        if not graded:
            continue
        weakest = min(graded, key=lambda m: LEVELS.index(graded[m][1]))
        grades[str(metric)] = {"grade": graded[weakest][1], "measures": graded, "weakest": weakest}
    return grades


def read_grades(path) -> dict[str, dict]:
    """The grades of a stored meta.csv (a run's ``meta/`` or a reference's)."""
    return grade_table(pd.read_csv(path))
