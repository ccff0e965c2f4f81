"""``bench check``: score one method against a stored reference's baselines, and (regression
mode) against its own previous check, without rerunning the baselines.

The method runs on the reference's images with the reference's model, targets, seed (the
curves' random colours) and metric settings; the run refuses to start when the model's
weights or an image's pixels differ from the reference's fingerprint. Its per-image values
are then compared, paired by image, with each baseline's: mean difference with a 95 %
bootstrap CI, a Wilcoxon signed-rank p-value with Holm's correction over every comparison
of the check, and a verdict in the metric's declared direction
(:func:`metrics.compare_paired`).

When the reference holds a randomisation test (frozen from the run's ``sanity/``), the
method's test runs too, with the reference's model, images, randomisation and seed, and its
similarities after full randomisation (:data:`bench.studies.sanity.SUMMARY_METRICS`, lower is
better) are compared with each tested baseline's in the same way, in the same family.

Output folder::

    check.json   method, reference, images, comparisons, ranks, regressions, status, seconds,
                 sanity (the test's images and the method's values, or null)
    check.md     a PR-comment summary: one sentence, the verdict table (with each metric's trust
                 grade when the reference carries its meta-evaluation, bench.studies.meta), whether
                 the curve verdicts agree under both replacements, the details, and the packages
                 whose versions differ from the reference's (bench.regression.stack)
    figures/check.png   mean differences with their CIs, per metric and baseline
    run/         the method's run folder (maps, records, metrics.csv, curves.csv)
    sanity/      the method's randomisation test (only when the reference has one)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.core.markdown import code, escape, table
from bench.core.provenance import package_versions
from bench.core.small_samples import ALPHA, images_for_a_verdict, smallest_holm_p
from bench.datasets import resolve_data_dir
from bench.datasets.imageset import read_csv
from bench.regression.figures import check_figure
from bench.regression.references import MATCHED_BY_CHECK, Reference, ReferenceInputError, load_reference, shipped_reference_for
from bench.regression.stack import stack_note
from bench.run.profile import bootstrap_samples, parse_value, with_explicit_road_grid
from bench.run.runner import RunError, run_benchmark
from bench.run.store import RunStore
from bench.studies.meta.grades import MIN_IMAGES, TOO_FEW, grade_label, grade_table
from bench.studies.sanity import SANITY_FOLDER, SUMMARY_METRICS, final_values, read_table, run_sanity
from common.errors import InputError, ParameterError
from common.files import folder_lock, write_json, write_text
from methods import build_method, method_name
from metrics import PER_IMAGE_METRICS, compare_paired
from metrics.per_image import CURVE_METRICS, curve_metric_name
from metrics.perturbation import DEFAULT_REPLACEMENT, REPLACEMENTS

CHECK_JSON = "check.json"
COMPARED_METRICS = [name for name in PER_IMAGE_METRICS if name != "method_seconds"]
"""The run's metrics with verdicts. A method's seconds depend on the machine that ran it, so
they are reported beside the verdicts, not judged."""
SANITY_COMPARED = [info.name for info in SUMMARY_METRICS.values()]
"""The randomisation test's metrics with verdicts, when the reference holds the test."""
METRIC_INFO = {**PER_IMAGE_METRICS, **{info.name: info for info in SUMMARY_METRICS.values()}}
DEFAULT_TOLERANCES: dict[str, str | float] = {
    "png_bytes": "2%",
    "ssim": 0.01,
    **{curve_metric_name(info.name, r): "2%" for r in REPLACEMENTS for info in CURVE_METRICS},
    **dict.fromkeys(SANITY_COMPARED, 0.05),
}
"""How much worse than its previous check a method may get, on average over the images, before
a significant change fails the check: a share of the previous mean's magnitude ("2%") or an
amount in the metric's unit (SSIM and the randomisation similarities: their means can sit
near 0)."""
SYMBOL = {"better": "better", "worse": "**worse**", "indistinguishable": "~"}
LOW_TRUST = "†"
"""Marks a verdict on a metric whose trust grade is low on the reference's data."""


def _signed(value: float) -> str:
    """A difference for the tables: thousands in full, else 4 significant digits."""
    return f"{value:+,.0f}" if abs(value) >= 1000 else f"{value:+.4g}"


class CheckError(InputError):
    """A check that cannot run as asked (another reference in --against, a bad tolerance)."""


# ---------------------------------------------------------------- arguments
def method_params(method: str, items: list[str] | None) -> dict:
    """``--param KEY=VALUE`` (or ``METHOD.KEY=VALUE``) settings of the checked method; the
    reference fixes every other setting."""
    name, params = method_name(method), {}
    for item in items or []:
        key, sep, value = item.partition("=")
        section, dot, rest = key.rpartition(".")
        if not sep or not rest:
            raise ParameterError(f"--param {item!r}: expected KEY=VALUE, a parameter of {name}")
        if dot and section not in (name, method):
            raise ParameterError(
                f"--param {item!r}: bench check sets only {name}'s parameters; the reference fixes the "
                "metric settings and the baselines"
            )
        params[rest] = parse_value(value)
    return params


def parse_tolerances(items: list[str] | None) -> dict[str, str | float]:
    """``--tolerance METRIC=VALUE`` over the defaults; VALUE is ``2%`` or an amount."""
    tolerances = dict(DEFAULT_TOLERANCES)
    for item in items or []:
        metric, sep, value = item.partition("=")
        if not sep or metric not in DEFAULT_TOLERANCES:
            raise ParameterError(
                f"--tolerance {item!r}: expected METRIC=VALUE with METRIC one of {', '.join(DEFAULT_TOLERANCES)}"
            )
        try:
            amount = float(value.rstrip("%"))
        except ValueError:
            amount = -1.0
        if not amount >= 0:
            raise ParameterError(f"--tolerance {item!r}: VALUE must be a number >= 0, or a percentage such as 2%")
        tolerances[metric] = value if value.endswith("%") else amount
    return tolerances


def tolerance_amount(tolerance: str | float, previous_mean: float) -> float:
    if isinstance(tolerance, str):
        return float(tolerance.rstrip("%")) / 100 * abs(previous_mean)
    return float(tolerance)


def load_previous(folder: str | Path) -> dict:
    """A previous check's check.json (``--against``)."""
    path = Path(folder) / CHECK_JSON
    if not path.is_file():
        raise CheckError(f"--against {folder}: no {CHECK_JSON} there (give the --out folder of an earlier bench check)")
    try:
        previous = json.loads(path.read_text())
        previous["values"], previous["reference"]["fingerprint_sha256"]
    except (ValueError, KeyError, TypeError) as err:
        raise CheckError(f"--against {folder}: {path} is not a check made by this suite ({err!r})") from None
    return previous


def choose_reference(reference: str | None, data_dir) -> Reference:
    if reference is not None:
        return load_reference(reference)
    folder, description = resolve_data_dir(data_dir)
    return shipped_reference_for(read_csv(folder)["ImageId"].astype(str).tolist(), description)


# ---------------------------------------------------------------- the check
def run_check(
    method: str,
    out: str | Path,
    reference: str | None = None,
    data_dir=None,
    params: list[str] | None = None,
    against: str | Path | None = None,
    tolerances: list[str] | None = None,
    weights: str | None = None,
    replacements: list[str] | None = None,
    log=print,
    executor: str = "local",
    ray_address: str | None = None,
    executor_options: dict | None = None,
) -> dict:
    """Run the check and write OUT; returns check.json's content. Every argument is checked
    before the model loads. ``executor``, ``ray_address``, ``executor_options``: where the
    method's units run (:func:`bench.run.runner.run_benchmark`). ``replacements``: compare the
    curves of these replacements only (default: every one the reference holds)."""
    name = method_name(method)
    settings = method_params(method, params)
    built = build_method(method, settings)
    tolerance_specs = parse_tolerances(tolerances)
    previous = load_previous(against) if against is not None else None
    ref = choose_reference(reference, data_dir)
    if replacements is not None:
        ref = ref.restricted_to(replacements)
    if previous is not None and previous["reference"]["fingerprint_sha256"] != ref.fingerprint_sha256:
        raise CheckError(
            f"--against {against}: that check used reference {previous['reference'].get('name')!r} with another "
            f"fingerprint; this one uses {ref.name!r} ({ref.path}). Compare checks of the same reference."
        )
    fp = {**ref.fingerprint, "metrics_settings": with_explicit_road_grid(ref.fingerprint["metrics_settings"])}
    profile = {
        "name": f"check-{name}",
        "source": f"reference {ref.name} ({ref.path})",
        "description": f"bench check of {name} against the reference {ref.name}",
        "run": {"model": fp["model"], "methods": [method], "seed": fp["seed"], "image_ids": fp["image_ids"]},
        "metrics": dict(fp["metrics_settings"]),
        "methods": {method: settings},
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"checking {name} against the reference {ref.name}: {len(ref.image_ids)} images, {', '.join(ref.methods)}")
    with folder_lock(out):
        expect = {key: fp[key] for key in MATCHED_BY_CHECK}
        try:
            run_benchmark(
                profile,
                out / "run",
                data_dir,
                weights,
                log,
                expect=expect,
                random_baseline=False,
                executor=executor,
                ray_address=ray_address,
                executor_options=executor_options,
            )
        except RunError as err:
            raise ReferenceInputError(f"cannot check against the reference {ref.name} ({ref.path}): {err}") from None
        values = RunStore(out / "run").record_values(name, ref.image_ids)
        sanity = None
        if ref.sanity is not None:
            sanity = check_sanity(method, settings, ref, out / SANITY_FOLDER, data_dir, weights, log)
        result = assemble(name, method, built.params, ref, values, previous, against, tolerance_specs, sanity)
        write_json(out / CHECK_JSON, result)
        write_text(out / "check.md", markdown(result))
        check_figure(result["comparisons"], out / "figures" / "check.png")
    return result


def check_sanity(method: str, settings: dict, ref: Reference, out: Path, data_dir, weights, log) -> dict:
    """The method's randomisation test as the reference's was made (model, images, groups, rule,
    seed; cascading), in ``out``; returns check.json's "sanity": the test's images and the
    method's per-image :data:`SANITY_COMPARED` values. Refused when the model, weights, images
    or randomisation groups differ from the reference's test."""
    frozen = ref.sanity_test
    made_by = frozen["fingerprint"]
    randomisation = made_by["randomisation"]
    run_sanity(
        made_by["model"],
        [method],
        out,
        data_dir,
        params={method: settings},
        weights=weights,
        granularity=randomisation["granularity"],
        rule=randomisation["rule"],
        seed=int(randomisation["seed"]),
        mode="cascading",
        log=log,
        image_ids=made_by["image_ids"],
    )
    made = json.loads((out / "sanity.json").read_text())["fingerprint"]
    keys = ("model", "weights_sha256", "image_ids", "image_sha256", "targets", "randomisation", "groups")
    differ = [key for key in keys if made[key] != made_by[key]]
    if differ:
        raise ReferenceInputError(
            f"cannot compare the randomisation test with the reference {ref.name} ({ref.path}): the {', '.join(differ)} "
            f"of this check's test ({out}) differ from the reference's"
        )
    table = read_table(out)
    ids = made_by["image_ids"]
    return {
        "images": ids,
        "baselines": list(frozen["methods"]),
        "values": {metric: final_values(table, method, metric, ids).tolist() for metric in SANITY_COMPARED},
        "folder": SANITY_FOLDER,
    }


def paired_values(ref: Reference, values: dict, sanity: dict | None) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Every (baseline, metric, the method's per-image values, the baseline's): the run's
    metrics on the reference's images, then the randomisation test's on the test's images
    where both similarities are finite."""
    pairs = [(b, m, np.asarray(values[m]), ref.values(b, m)) for b in ref.methods for m in compared_metrics(ref)]
    test = sanity or {"baselines": [], "values": {}}
    for b in test["baselines"]:
        pairs += [(b, m, *finite_pairs(test["values"][m], ref.sanity_values(b, m))) for m in SANITY_COMPARED]
    return pairs


def finite_pairs(new, old) -> tuple[np.ndarray, np.ndarray]:
    """The images where both values are finite (a constant map has no rank correlation: NaN)."""
    new, old = np.asarray(new, np.float64), np.asarray(old, np.float64)
    finite = np.isfinite(new) & np.isfinite(old)
    return new[finite], old[finite]


def compared_metrics(ref: Reference) -> list[str]:
    """The metrics a check compares: those of :data:`COMPARED_METRICS` the reference holds (its
    ROAD curve metrics only when it was made with ``metrics.replacement`` including road)."""
    return [m for m in COMPARED_METRICS if m in ref.metric_names]


def assemble(name, spec, params, ref: Reference, values, previous, against, tolerance_specs, sanity=None) -> dict:
    n_boot = bootstrap_samples(ref.fingerprint["metrics_settings"])
    seed = int(ref.fingerprint["seed"])
    paired = paired_values(ref, values, sanity)
    found = compare_paired([(new, old, METRIC_INFO[m].higher_is_better) for _, m, new, old in paired], ALPHA, n_boot, seed)
    comparisons = [_row(baseline, metric, c, len(new)) for (baseline, metric, new, _), c in zip(paired, found)]
    regressions = []
    if previous is not None:
        now = {m: np.asarray(values[m], np.float64) for m in compared_metrics(ref)}
        old = {m: np.asarray(v, np.float64) for m, v in previous["values"].items()}
        if sanity is not None and (previous.get("sanity") or {}).get("images") == sanity["images"]:
            now |= {m: np.asarray(v, np.float64) for m, v in sanity["values"].items()}
            old |= {m: np.asarray(v, np.float64) for m, v in previous["sanity"]["values"].items()}
        compared = [m for m in now if m in old]
        both = {m: finite_pairs(now[m], old[m]) for m in compared}
        found = compare_paired([(*both[m], METRIC_INFO[m].higher_is_better) for m in compared], ALPHA, n_boot, seed)
        for metric, c in zip(compared, found):
            allowed = tolerance_amount(tolerance_specs[metric], float(both[metric][1].mean()))
            row = _row("previous", metric, c, len(both[metric][0]))
            row.update(tolerance=allowed, regression=c.verdict == "worse" and abs(c.mean_diff) > allowed)
            regressions.append(row)
    seconds = [{"method": name, "seconds": float(np.mean(values["method_seconds"])), "measured_by": "this check"}]
    seconds += [
        {"method": b, "seconds": float(np.mean(ref.values(b, "method_seconds"))), "measured_by": "the reference's run"}
        for b in ref.methods
    ]
    return {
        "method": name,
        "method_spec": spec,
        "params": params,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference": {
            "name": ref.name,
            "path": str(ref.path),
            "fingerprint_sha256": ref.fingerprint_sha256,
            "model": ref.fingerprint["model"],
            "baselines": ref.methods,
            "versions": ref.info.get("versions"),
        },
        "images": ref.image_ids,
        "statistics": {
            "alpha": ALPHA,
            "bootstrap_samples": n_boot,
            "seed": seed,
            "test": "two-sided Wilcoxon signed-rank on the per-image differences (method - baseline)",
            "correction": f"Holm over the {len(comparisons)} baseline comparisons; separately over the regressions",
            "ci": f"95% percentile bootstrap of the mean difference, {n_boot} resamples, seed {seed}",
            "verdict": "better/worse (in the metric's direction) when the corrected p < alpha and the CI excludes 0",
        },
        "comparisons": comparisons,
        "ranks": ranks(name, values, ref, sanity),
        "against": None if against is None else str(against),
        "against_method": None if previous is None else previous.get("method"),
        "regressions": regressions,
        "status": "fail" if any(r["regression"] for r in regressions) else "pass",
        "seconds_per_image": seconds,
        "values": {m: [float(v) for v in values[m]] for m in PER_IMAGE_METRICS if m in values},
        "sanity": sanity,
        "trust": trust(ref),
        "replacement_agreement": replacement_agreement(comparisons),
        "versions": package_versions(),
    }


def trust(ref: Reference) -> dict[str, dict]:
    """metric -> its trust grade on the reference's data (:func:`bench.studies.meta.grades.grade_table`
    of the reference's meta.csv); empty when the reference carries no meta-evaluation."""
    return {} if ref.meta is None else grade_table(ref.meta)


def replacement_agreement(comparisons: list[dict]) -> list[dict]:
    """Per curve metric and baseline compared under more than one replacement: each
    replacement's verdict and whether they all agree."""
    verdict = {(c["baseline"], c["metric"]): c["verdict"] for c in comparisons}
    out = []
    for info in CURVE_METRICS:
        for baseline in dict.fromkeys(c["baseline"] for c in comparisons):
            found = {r: verdict.get((baseline, curve_metric_name(info.name, r))) for r in REPLACEMENTS}
            found = {r: v for r, v in found.items() if v is not None}
            if len(found) > 1:
                out.append({"metric": info.name, "baseline": baseline, "verdicts": found, "agree": len(set(found.values())) == 1})
    return out


def _row(baseline: str, metric: str, c, n: int) -> dict:
    return {
        "baseline": baseline,
        "metric": metric,
        "n": n,
        "higher_is_better": METRIC_INFO[metric].higher_is_better,
        "mean_diff": c.mean_diff,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p_value": c.p_value,
        "p_raw": c.p_raw,
        "verdict": c.verdict,
    }


def ranks(name: str, values: dict, ref: Reference, sanity: dict | None = None) -> list[dict]:
    """Per metric: the checked method's rank (1 = best; ties share the better rank) among it and the
    reference's methods (those of its randomisation test for that test's metrics), by mean over
    the images (the test's images: the mean over its finite values)."""
    label = f"{name} (checked)"
    means_by_metric = {
        m: {b: float(np.mean(ref.values(b, m))) for b in ref.methods} | {label: float(np.mean(values[m]))}
        for m in compared_metrics(ref)
    }
    if sanity is not None:
        for m in SANITY_COMPARED:
            means_by_metric[m] = {b: float(np.nanmean(ref.sanity_values(b, m))) for b in sanity["baselines"]}
            means_by_metric[m][label] = float(np.nanmean(sanity["values"][m]))
    out = []
    for metric, means in means_by_metric.items():
        info = METRIC_INFO[metric]
        mine = means[label]
        better = sum((m > mine) if info.higher_is_better else (m < mine) for k, m in means.items() if k != label)
        order = sorted(means, key=lambda k: means[k], reverse=info.higher_is_better)
        out.append(
            {
                "metric": metric,
                "higher_is_better": info.higher_is_better,
                "rank": 1 + better,
                "of": len(means),
                "means": {m: means[m] for m in order},
            }
        )
    return out


# ---------------------------------------------------------------- check.md
def markdown(result: dict) -> str:
    """check.md: the headline, the verdict table, what the cells mean, and the details. Every
    name a user chose (method, reference, folder) is escaped: CI posts check.md as a comment."""
    comparisons = result["comparisons"]
    lines = [_headline(result), "", *_verdict_table(result), "", _legend(result)]
    lines += _trust_note(result)
    lines += _undecidable_note(comparisons)
    lines += _agreement_section(result)
    if result.get("sanity"):
        test = result["sanity"]
        lines += [
            "",
            f"randomisation_spearman and randomisation_ssim: the similarity of a map to the map of the fully randomised "
            f"model (cascading model-parameter randomisation, the reference's groups and seed) on the test's "
            f"{len(test['images'])} images, against the baselines the reference tested "
            f"({', '.join(escape(b) for b in test['baselines'])}); about 0 passes the test. The method's test: "
            f"{code(test['folder'] + '/report.md')}.",
        ]
    if result["regressions"]:
        lines += ["", f"Regression check against {code(result['against'])}:", "", *_table(result["regressions"], tolerance=True)]
    ref = result["reference"]
    stack = stack_note(ref["name"], ref.get("versions"), result.get("versions", {}))
    lines += ["", *stack] if stack else []
    seconds = ", ".join(f"{escape(s['method'])} {s['seconds']:.3g} s ({s['measured_by']})" for s in result["seconds_per_image"])
    lines += ["", f"Seconds per image: {seconds}.", "", "<details><summary>All comparisons</summary>", ""]
    return "\n".join([*lines, *_table(comparisons), "", "</details>", ""])


def _headline(result: dict) -> str:
    comparisons, name, ref = result["comparisons"], result["method"], result["reference"]
    count = {v: sum(c["verdict"] == v for c in comparisons) for v in ("better", "worse", "indistinguishable")}
    sentence = (
        f"**{escape(name)}** against the reference {code(ref['name'])} ({len(result['images'])} images, "
        f"{escape(ref['model'])}): better in {count['better']}, worse in {count['worse']} and indistinguishable in "
        f"{count['indistinguishable']} of {len(comparisons)} comparisons with {len(ref['baselines'])} baselines"
    )
    agreement = result.get("replacement_agreement") or []
    if agreement:
        agreed = sum(a["agree"] for a in agreement)
        sentence += (
            f"; {agreed} of the {len(agreement)} curve verdicts agree under {' and '.join(REPLACEMENTS)}"
            f" ({len(agreement) - agreed} differ)"
        )
    if result["against"] is None:
        return sentence + "."
    failed = [r["metric"] for r in result["regressions"] if r["regression"]]
    previous = result.get("against_method")
    which = (
        "its previous check"
        if previous in (None, name)
        else f"the previous check of another method, **{escape(previous)}** ({code(result['against'])})"
    )
    return sentence + (
        f"; against {which}: **regressed** in {', '.join(failed)}." if failed else f"; against {which}: no regression."
    )


def _verdict_table(result: dict) -> list[str]:
    """Per metric: the checked method's rank and its verdict against each baseline."""
    comparisons, baselines = result["comparisons"], result["reference"]["baselines"]
    rank = {r["metric"]: r for r in result["ranks"]}
    grades = result.get("trust") or {}
    low = {m for m, g in grades.items() if g["grade"] == "low"}
    cell = {
        (
            c["baseline"],
            c["metric"],
        ): f"{SYMBOL[c['verdict']]} {_signed(c['mean_diff'])}{' ' + LOW_TRUST if c['metric'] in low else ''}"
        for c in comparisons
    }
    rows = []
    for metric in dict.fromkeys(c["metric"] for c in comparisons):
        arrow = "↑" if rank[metric]["higher_is_better"] else "↓"
        cells = [cell.get((baseline, metric), "not tested") for baseline in baselines]
        graded = [_grade_cell(grades[metric])] if metric in grades else ["–"] if grades else []
        rows.append([f"{metric} {arrow}", f"{rank[metric]['rank']} of {rank[metric]['of']}", *graded, *cells])
    header = ["metric", "rank", *(["trust"] if grades else []), *(escape(b) for b in baselines)]
    return table(header, rows)


def _grade_cell(grade: dict) -> str:
    """ "low (n=32): internal_consistency_replacement_tau 0.07": the grade, the images it rests on
    and the measure that set it."""
    value, _ = grade["measures"][grade["weakest"]]
    return f"{grade_label(grade)}: {grade['weakest']} {value:.2f}"


def _trust_note(result: dict) -> list[str]:
    """What the trust column means, where the reference carries its meta-evaluation."""
    grades = result.get("trust") or {}
    if not grades:
        return []
    compared = dict.fromkeys(c["metric"] for c in result["comparisons"])
    low = [m for m in compared if grades.get(m, {}).get("grade") == "low"]
    marked = f" {LOW_TRUST} marks a verdict on a metric graded low ({', '.join(low)})." if low else ""
    return [
        "",
        f"Trust: how far each metric's verdicts can be trusted on the reference's images, measured on the reference "
        f"itself (python -m bench meta; thresholds: bench/studies/meta/grades.py, after Tomsett et al. 2020 and "
        f"MetaQuantus 2023): the grade, n (the images it rests on; below {MIN_IMAGES}, '{TOO_FEW}') and the measure that set "
        f"it; – not measured.{marked}",
    ]


def _agreement_section(result: dict) -> list[str]:
    """Per curve metric and baseline: the verdicts under each replacement and whether they agree."""
    agreement = result.get("replacement_agreement") or []
    if not agreement:
        return []
    baselines = list(dict.fromkeys(a["baseline"] for a in agreement))
    cell = {(a["metric"], a["baseline"]): a for a in agreement}

    def show(a: dict | None) -> str:
        if a is None:
            return "not tested"
        verdicts = " / ".join(SYMBOL[v] for v in a["verdicts"].values())
        return f"agree ({verdicts})" if a["agree"] else f"**differ** ({verdicts})"

    metrics = list(dict.fromkeys(a["metric"] for a in agreement))
    order = " / ".join(a for a in REPLACEMENTS)
    return [
        "",
        f"Do the curve verdicts survive both replacements? Each cell: the verdicts under {order} "
        f"({DEFAULT_REPLACEMENT} is the thesis's); a verdict that differs depends on how removed pixels are filled, "
        "not only on the map.",
        "",
        *table(["metric", *(escape(b) for b in baselines)], [[m, *(show(cell.get((m, b))) for b in baselines)] for m in metrics]),
    ]


def _legend(result: dict) -> str:
    statistics = result["statistics"]
    return (
        f"Cells: verdict and mean difference ({escape(result['method'])} minus the baseline) over the images; ↑/↓ the "
        f"better direction; ~ indistinguishable. {statistics['verdict']} ({statistics['test']}; {statistics['correction']})."
    )


def _undecidable_note(comparisons: list[dict]) -> list[str]:
    """Which comparisons are too small for any verdict (see :func:`smallest_holm_p`)."""
    undecidable = [c for c in comparisons if smallest_holm_p(c["n"], len(comparisons)) >= ALPHA]
    if not undecidable:
        return []
    sizes = sorted({c["n"] for c in undecidable})
    return [
        "",
        f"{len(undecidable)} of the {len(comparisons)} comparisons cannot reach a verdict whatever the values: on "
        f"{' or '.join(map(str, sizes))} images the smallest two-sided Wilcoxon p-value is 2/2^n "
        f"({2.0 ** (1 - sizes[-1]):.2g} for n = {sizes[-1]}), and Holm multiplies the smallest by "
        f"{len(comparisons)}; {images_for_a_verdict(len(comparisons))} images are needed for p < {ALPHA}. Read their "
        "differences and ranks, not their ~.",
    ]


def _table(rows: list[dict], tolerance: bool = False) -> list[str]:
    header = ["baseline", "metric", "mean diff", "95% CI", "p (Holm)", "verdict"] + ["tolerance", "fails"] * tolerance
    body = []
    for r in rows:
        cells = [
            escape(r["baseline"]),
            r["metric"],
            _signed(r["mean_diff"]),
            f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]",
            f"{r['p_value']:.3g}",
            r["verdict"],
        ]
        if tolerance:
            cells += [f"{r['tolerance']:.4g}", "yes" if r["regression"] else "no"]
        body.append(cells)
    return table(header, body)
