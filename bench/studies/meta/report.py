"""meta.md, and the trust lines that the run report and ``bench check`` print beside verdicts."""

from __future__ import annotations

import pandas as pd

from bench.core.markdown import escape, table
from bench.studies.meta.grades import CRITERIA, MIN_IMAGES, TOO_FEW

SHOWN = (
    "inter_rater_alpha",
    "inter_method_spearman",
    "internal_consistency_morf",
    "internal_consistency_replacement",
    "internal_consistency_replacement_tau",
    "inter_model_tau",
    "inter_model_tau_images",
    "noise_resilience",
    "noise_resilience_scores",
    "adversary_reactivity",
    "adversary_reactivity_scores",
)


def estimate(row) -> str:
    return f"{row['value']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def grade_rows(meta: pd.DataFrame, grades: dict[str, dict]) -> list[list[str]]:
    """Per graded metric: grade with the images it rests on, then each graded measure's value [95 % CI]
    (a dash where not measured)."""
    cells = {(r["metric"], r["measure"]): estimate(r) for _, r in meta.iterrows()}
    return [
        [metric, f"**{g['grade']}** (n={g.get('n', '?')})", *(cells.get((metric, c.measure), "–") for c in CRITERIA)]
        for metric, g in grades.items()
    ]


def trust_table(meta: pd.DataFrame, grades: dict[str, dict], extra: tuple[str, dict[str, str]] | None = None) -> list[str]:
    """The grades with the values they rest on, one row per metric; ``extra``: (a last column's
    header, metric -> its cell)."""
    rows = grade_rows(meta, grades)
    if extra is None:
        return table(["metric", "trust", *(c.measure for c in CRITERIA)], rows)
    header, cells = extra
    return table(["metric", "trust", *(c.measure for c in CRITERIA), header], [[*r, cells.get(r[0], "–")] for r in rows])


def thresholds() -> list[str]:
    return [f"- `{c.measure}`: high >= {c.high}, low < {c.low}. {c.why}." for c in CRITERIA]


def meta_markdown(meta: pd.DataFrame, grades: dict[str, dict], info: dict) -> str:
    """meta.md: the sources, the grades, every measure with its interval, the thresholds and the costs."""
    sources = "; ".join(f"{escape(s['name'])} ({escape(s['model'])}, {s['images']} images)" for s in info["sources"])
    lines = [
        "# Meta-evaluation: which metrics' verdicts can be trusted on this data\n",
        f"Sources: {sources}. 95% percentile bootstrap intervals over images, {info['bootstrap_samples']} resamples, "
        f"seed {info['seed']}; the random-order baseline is excluded. Measures: `bench/studies/meta/table.py`.\n",
        "## Trust grades\n",
        *trust_table(meta, grades),
        "",
        f"A metric's grade is its weakest graded measure's; n: the fewest images its graded measures rest on, and "
        f"below {MIN_IMAGES} the grade is '{TOO_FEW}' (why: `MIN_IMAGES` in bench/studies/meta/grades.py). Thresholds:\n",
        *thresholds(),
        "",
        "## Every measure\n",
    ]
    shown = [m for m in SHOWN if m in set(meta["measure"])]
    cells = {(r["metric"], r["measure"]): estimate(r) for _, r in meta.iterrows()}
    metrics = list(dict.fromkeys(meta["metric"]))
    lines += table(["metric", *shown], [[m, *(cells.get((m, s), "–") for s in shown)] for m in metrics])
    perturbation = info.get("perturbation")
    if perturbation:
        kept = ", ".join(f"{c} {v['top1_kept']:.0%}" for c, v in perturbation["conditions"].items())
        lines += [
            "",
            f"Perturbed models (`bench/studies/meta/perturb.py`): {len(perturbation['images'])} images, methods "
            f"{', '.join(perturbation['methods'])}, weights times 1 + N(0, {perturbation['noise_std']}) for the minor "
            f"perturbation, the fully randomised model (bench sanity's) for the disruptive one; random-colour curves "
            f"only. Top-1 class kept: {kept}.",
        ]
    lines += ["", "## Cost (seconds, this machine)\n", *(f"- {k}: {v:.1f}" for k, v in info["seconds"].items())]
    return "\n".join(lines) + "\n"
