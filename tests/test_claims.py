"""bench.report.claims: bootstrap verdicts on the thesis's claims, against synthetic tables
whose answer is known by construction."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bench.report.claims import (
    ABPC_CLAIM,
    LERF_CLAIM,
    MORF_CLAIM,
    NOT_SUPPORTED_BELOW,
    PNG_CLAIM,
    SSIM_CLAIM,
    SUPPORTED_AT,
    ClaimVerdict,
    early_morf_window,
    evaluate_claims,
    lerf_window,
)
from metrics import PER_IMAGE_METRICS

METHODS = ["deeplift", "intgrad", "elrp", "sensitivity", "perturbation", "noise_mask"]
NO_CURVES = pd.DataFrame(columns=["image_id", "method", "order", "step", "fraction_replaced", "logit", "prob"])


def ids(n: int) -> list[str]:
    return [f"img{i:03d}" for i in range(n)]


def metric_table(metric: str, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """metrics.csv rows of one metric: method -> per-image values (images img000, ...)."""
    rows = [(i, m, metric, float(v)) for m, vs in values.items() for i, v in zip(ids(len(vs)), vs)]
    return pd.DataFrame(rows, columns=["image_id", "method", "metric", "value"])


def curve_table(decay: dict[str, float], n: int, steps: int = 100, order: str = "morf", seed: int = 0) -> pd.DataFrame:
    """curves.csv rows of one order: logit 10 * exp(-step / decay[method]) plus a little
    per-image noise (a small decay: a steep curve)."""
    rng = np.random.default_rng(seed)
    step = np.arange(steps + 1)
    rows = []
    for m, tau in decay.items():
        for i in ids(n):
            logit = 10 * np.exp(-step / tau) + rng.normal(0, 0.05, step.size)
            rows += [(i, m, order, s, s / steps, lg, 0.0) for s, lg in zip(step, logit)]
    return pd.DataFrame(rows, columns=NO_CURVES.columns)


def only(verdicts: list[ClaimVerdict], claim: str) -> ClaimVerdict:
    found = [v for v in verdicts if v.claim == claim]
    assert len(found) == 1, [v.claim for v in verdicts]
    return found[0]


def png_values(noise_mask: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """PNG sizes near 75 KB for every method but noise_mask (given)."""
    n = len(noise_mask)
    return {**{m: rng.normal(75_000, 4_000, n) for m in METHODS[:-1]}, "noise_mask": noise_mask}


# ------------------------------------------------------------------ verdicts


def test_png_smallest_on_every_image_is_supported():
    rng = np.random.default_rng(1)
    table = metric_table("png_bytes", png_values(rng.normal(30_000, 3_000, 50), rng))
    v = only(evaluate_claims(table, NO_CURVES, METHODS), PNG_CLAIM)
    assert (v.verdict, v.fraction, v.win_rate) == ("supported", 1.0, 1.0)
    assert "smallest mean: noise_mask" in v.evidence and "50 images" in v.evidence
    assert "2000 resamples" in v.evidence


def test_png_larger_on_every_image_is_not_supported():
    rng = np.random.default_rng(2)
    table = metric_table("png_bytes", png_values(rng.normal(150_000, 3_000, 50), rng))
    v = only(evaluate_claims(table, NO_CURVES, METHODS), PNG_CLAIM)
    assert (v.verdict, v.fraction, v.win_rate) == ("not supported", 0.0, 0.0)


def close_png(seed: int = 9, n: int = 40) -> pd.DataFrame:
    """noise_mask and perturbation drawn from the same distribution, the rest far larger."""
    rng = np.random.default_rng(seed)
    values = png_values(rng.normal(30_000, 3_000, n), rng)
    values["perturbation"] = rng.normal(30_000, 3_000, n)
    return metric_table("png_bytes", values)


def test_close_case_is_undecided_and_reproducible():
    table = close_png()
    v = only(evaluate_claims(table, NO_CURVES, METHODS, seed=7), PNG_CLAIM)
    assert v.verdict == "undecided"
    assert NOT_SUPPORTED_BELOW <= v.fraction < SUPPORTED_AT
    assert only(evaluate_claims(table, NO_CURVES, METHODS, seed=7), PNG_CLAIM).fraction == v.fraction
    assert v.fraction == pytest.approx(0.669)  # numpy's PCG64 streams for this data and these resamples
    # about half the single images go either way
    assert 0.2 < v.win_rate < 0.8


def test_fraction_is_the_share_of_paired_resamples_given_by_the_documented_draw():
    table = close_png()
    n_boot, seed = 500, 11
    wide = table.pivot(index="image_id", columns="method", values="value")[METHODS]  # images in id order
    draws = np.random.default_rng(seed).integers(0, len(wide), (n_boot, len(wide)))
    means = wide.to_numpy()[draws].mean(axis=1)  # n_boot x methods, same images for every method
    by_hand = float(np.mean(means.argmin(axis=1) == METHODS.index("noise_mask")))
    v = only(evaluate_claims(table, NO_CURVES, METHODS, n_boot=n_boot, seed=seed), PNG_CLAIM)
    assert v.fraction == pytest.approx(by_hand, abs=1e-12)
    assert f"{n_boot} resamples" in v.evidence


def test_win_rate_by_hand_on_four_images():
    # noise_mask is the smallest PNG on images 0, 1 and 3, not on image 2
    values = {m: np.array([50.0, 50.0, 50.0, 50.0]) + k for k, m in enumerate(METHODS[:-1])}
    values["noise_mask"] = np.array([10.0, 20.0, 90.0, 30.0])
    v = only(evaluate_claims(metric_table("png_bytes", values), NO_CURVES, METHODS), PNG_CLAIM)
    assert v.win_rate == 0.75
    assert "4 images" in v.evidence


def test_ties_do_not_make_a_method_the_best():
    values = {m: np.full(5, 100.0) for m in METHODS}
    v = only(evaluate_claims(metric_table("png_bytes", values), NO_CURVES, METHODS), PNG_CLAIM)
    assert (v.verdict, v.fraction, v.win_rate) == ("not supported", 0.0, 0.0)


# ------------------------------------------------------------------ directions


def test_directions_come_from_per_image_metrics():
    """The same numbers (noise_mask lowest everywhere) under png_bytes, ssim and
    abpc_sum_logit: only the metric whose table says smaller is better supports it."""
    assert not PER_IMAGE_METRICS["png_bytes"].higher_is_better
    assert PER_IMAGE_METRICS["ssim"].higher_is_better and PER_IMAGE_METRICS["abpc_sum_logit"].higher_is_better
    rng = np.random.default_rng(4)
    values = {m: rng.uniform(0.5, 1.0, 30) for m in METHODS[:-1]}
    values["noise_mask"] = rng.uniform(0.0, 0.1, 30)
    table = pd.concat([metric_table(name, values) for name in ("png_bytes", "ssim", "abpc_sum_logit")])
    verdicts = evaluate_claims(table, NO_CURVES, METHODS)
    assert [v.claim for v in verdicts] == [PNG_CLAIM, SSIM_CLAIM, ABPC_CLAIM]
    assert only(verdicts, PNG_CLAIM).verdict == "supported"
    assert only(verdicts, SSIM_CLAIM).verdict == "not supported"
    assert only(verdicts, ABPC_CLAIM).verdict == "not supported"

    # and the other way round: noise_mask highest everywhere
    flipped = {m: 1.5 - v for m, v in values.items()}
    table = pd.concat([metric_table(name, flipped) for name in ("png_bytes", "ssim", "abpc_sum_logit")])
    verdicts = evaluate_claims(table, NO_CURVES, METHODS)
    assert [v.verdict for v in verdicts] == ["not supported", "supported", "supported"]


def test_a_direction_changed_in_per_image_metrics_changes_the_verdict(monkeypatch):
    rng = np.random.default_rng(5)
    table = metric_table("png_bytes", png_values(rng.normal(30_000, 3_000, 20), rng))
    assert only(evaluate_claims(table, NO_CURVES, METHODS), PNG_CLAIM).verdict == "supported"
    monkeypatch.setitem(
        PER_IMAGE_METRICS, "png_bytes", dataclasses.replace(PER_IMAGE_METRICS["png_bytes"], higher_is_better=True)
    )
    assert only(evaluate_claims(table, NO_CURVES, METHODS), PNG_CLAIM).verdict == "not supported"


# ------------------------------------------------------------------ curves


SLOW = {"elrp": 40.0, "sensitivity": 45.0, "perturbation": 50.0, "noise_mask": 55.0}


def test_deeplift_and_intgrad_steepest_is_supported():
    curves = curve_table({"deeplift": 2.0, "intgrad": 3.0, **SLOW}, n=20)
    v = only(evaluate_claims(pd.DataFrame(columns=["image_id", "method", "metric", "value"]), curves, METHODS), MORF_CLAIM)
    assert (v.verdict, v.fraction, v.win_rate) == ("supported", 1.0, 1.0)
    assert v.evidence.startswith("lowest mean logit over MoRF steps 1-10 of 100: deeplift")
    assert "20 images" in v.evidence


def test_only_deeplift_steep_is_not_supported():
    curves = curve_table({"deeplift": 2.0, "intgrad": 60.0, **SLOW}, n=20)
    v = only(evaluate_claims(pd.DataFrame(), curves, METHODS), MORF_CLAIM)
    assert (v.verdict, v.fraction, v.win_rate) == ("not supported", 0.0, 0.0)


def test_morf_claim_is_skipped_without_intgrad():
    curves = curve_table({"deeplift": 2.0, **SLOW}, n=10)
    methods = [m for m in METHODS if m != "intgrad"]
    assert [v.claim for v in evaluate_claims(pd.DataFrame(), curves, methods)] == []


def test_lerf_claim():
    # LeRF: a slowly falling curve stays high; noise_mask falls slowest
    high = curve_table({"deeplift": 5.0, "intgrad": 6.0, "elrp": 7.0, "noise_mask": 200.0}, n=15, order="lerf")
    v = only(evaluate_claims(pd.DataFrame(), high, ["deeplift", "intgrad", "elrp", "noise_mask"]), LERF_CLAIM)
    assert (v.verdict, v.fraction, v.win_rate) == ("supported", 1.0, 1.0)
    assert v.evidence.startswith("highest mean logit over LeRF steps 1-75 of 100: noise_mask")
    low = curve_table({"deeplift": 200.0, "noise_mask": 5.0}, n=15, order="lerf")
    v = only(evaluate_claims(pd.DataFrame(), low, ["deeplift", "noise_mask"]), LERF_CLAIM)
    assert v.verdict == "not supported"


def test_windows():
    assert early_morf_window(100) == (1, 10)
    assert early_morf_window(5) == (1, 1)
    assert lerf_window(100) == (1, 75)
    assert lerf_window(1) == (1, 1)


# ------------------------------------------------------------------ alignment, edge cases


def test_images_are_inner_joined_per_claim():
    rng = np.random.default_rng(6)
    table = metric_table("png_bytes", png_values(rng.normal(30_000, 3_000, 30), rng))
    table = table[~((table["method"] == "elrp") & table["image_id"].isin(ids(5)))]  # elrp lacks 5 images
    v = only(evaluate_claims(table, NO_CURVES, METHODS), PNG_CLAIM)
    assert "25 images" in v.evidence and v.verdict == "supported"


def test_no_common_image_is_undecided():
    table = pd.concat(
        [
            metric_table("png_bytes", {"noise_mask": np.array([1.0, 2.0])}),
            metric_table("png_bytes", {"elrp": np.array([5.0, 6.0, 7.0])}).query("image_id == 'img002'"),
        ]
    )
    v = only(evaluate_claims(table, NO_CURVES, ["elrp", "noise_mask"]), PNG_CLAIM)
    assert v.verdict == "undecided" and np.isnan(v.fraction) and np.isnan(v.win_rate)


def test_nothing_without_noise_mask_or_a_second_method():
    rng = np.random.default_rng(7)
    table = metric_table("png_bytes", png_values(rng.normal(30_000, 3_000, 10), rng))
    assert evaluate_claims(table, NO_CURVES, METHODS[:-1]) == []
    assert evaluate_claims(table, NO_CURVES, ["noise_mask"]) == []


def test_methods_not_asked_for_are_ignored():
    # random-order curves and a method outside ``methods`` do not enter the comparison
    rng = np.random.default_rng(8)
    values = png_values(rng.normal(30_000, 3_000, 10), rng)
    values["extra"] = np.full(10, 1.0)
    v = only(evaluate_claims(metric_table("png_bytes", values), NO_CURVES, METHODS), PNG_CLAIM)
    assert v.verdict == "supported"


def test_same_seed_same_fractions_all_claims():
    rng = np.random.default_rng(9)
    n = 40
    metric_values = {m: rng.normal(1.0, 0.3, n) for m in METHODS}
    metrics = pd.concat([metric_table(name, metric_values) for name in ("png_bytes", "ssim", "abpc_sum_logit")])
    curves = pd.concat(
        [
            curve_table({m: 20.0 + k for k, m in enumerate(METHODS)}, n=n, steps=20, seed=1),
            curve_table({m: 20.0 + k for k, m in enumerate(METHODS)}, n=n, steps=20, order="lerf", seed=2),
        ]
    )
    first = evaluate_claims(metrics, curves, METHODS, n_boot=300, seed=3)
    again = evaluate_claims(metrics, curves, METHODS, n_boot=300, seed=3)
    assert [v.claim for v in first] == [PNG_CLAIM, SSIM_CLAIM, MORF_CLAIM, LERF_CLAIM, ABPC_CLAIM]
    assert first == again
    assert [v.fraction for v in evaluate_claims(metrics, curves, METHODS, n_boot=300, seed=4)] != [v.fraction for v in first]


def test_claim_verdict_is_frozen():
    v = ClaimVerdict("c", "supported", 1.0, 1.0, "e")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.verdict = "undecided"  # type: ignore[misc]
