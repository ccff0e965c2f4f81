"""A trust grade per metric ("high", "medium", "low") from its meta table, with each threshold
stated and where it comes from.

A metric is graded on the measures that say whether its *verdicts* can be trusted; each graded
measure is "high" at or above its ``high`` value, "low" below its ``low`` value, else
"medium", on its point value (the interval is printed beside it). The metric's grade is its
weakest measure's: "low" if any is low, "high" if every graded measure it has is high; and
"too few images" when a graded measure rests on fewer than :data:`MIN_IMAGES` images (every
grade is shown with its n).

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
TOO_FEW = "too few images"
"""The grade of a metric whose graded measures rest on fewer than :data:`MIN_IMAGES` images."""
MIN_IMAGES = 6
"""The fewest images a grade rests on (the smallest ``n`` of the measures it reads); below it the
grade is :data:`TOO_FEW`, whatever the values.

Every measure is a statistic over images with a percentile bootstrap interval over images
(``bench/studies/meta/bootstrap.py``), and its point value is read against thresholds about
0.3-0.5 apart. With n images, a resample that is one image drawn n times (its ranking of the
methods agreeing perfectly with itself) has probability n^(1-n): 1/2 at n = 2, 1/9 at 3, 1/64
at 4, 1/625 at 5, 1/7,776 at 6. Up to 5 such degenerate resamples still weigh in the interval's
2.5 % tails (at 4 they are over half of them), and a point value from so few images moves a
whole band when one image is swapped, which is how 2 images came out "high" (issue 34). From
6 on they are a negligible part of the tails. 6 is also the smallest number of images the suite
measures by design (the perturbation test's default, ``settings.IMAGES``), so that its grades
keep being graded. A floor, not a guarantee: every grade is shown with its n and its measures'
intervals."""


def level(value: float, criterion: Criterion) -> str | None:
    if not np.isfinite(value):
        return None
    return "high" if value >= criterion.high else "low" if value < criterion.low else "medium"


def grade_table(table: pd.DataFrame) -> dict[str, dict]:
    """metric -> {"grade", "measures": {measure: [value, level]}, "weakest": measure, "n"} from
    meta.csv's rows; ``n``: the fewest images its graded measures rest on, and below
    :data:`MIN_IMAGES` the grade is :data:`TOO_FEW`."""
    grades: dict[str, dict] = {}
    for metric, part in table.groupby("metric", sort=False):
        values = dict(zip(part["measure"], part["value"].astype(float)))
        counts = dict(zip(part["measure"], part["n"])) if "n" in part else {}
        graded = {}
        for criterion in CRITERIA:
            found = level(values.get(criterion.measure, np.nan), criterion)
            if found is not None:
                graded[criterion.measure] = [values[criterion.measure], found]
        if not graded:
            continue
        weakest = min(graded, key=lambda m: LEVELS.index(graded[m][1]))
        n = min(int(counts.get(m, 0)) for m in graded)
        grade = graded[weakest][1] if n >= MIN_IMAGES else TOO_FEW
        grades[str(metric)] = {"grade": grade, "measures": graded, "weakest": weakest, "n": n}
    return grades


def read_grades(path) -> dict[str, dict]:
    """The grades of a stored meta.csv (a run's ``meta/`` or a reference's)."""
    return grade_table(pd.read_csv(path))


def grade_label(grade: dict) -> str:
    """``high (n=32)``: a grade with the number of images it rests on, wherever it is shown."""
    n = grade.get("n")
    return f"{grade['grade']} (n={n})" if n is not None else str(grade["grade"])
