"""Analyses pair only what is the same (issue 34, rule 3): bench meta's two SOURCEs pair by image
id and pixel sha256, its outputs never go into an input folder, a shipped reference is
read-only, grades on too few images say so and every grade shows its n, and a plug-in method's
perturbation test can be requested. Each case checks the exit code, the message and what is
(not) on disk. Runs: the tiny model, smoke profile, the embedded images."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.cli import main
from bench.datasets import embedded_image_set_dir
from models import MODELS, ModelSpec
from models.keras_classifier import ModelWrapper
from models.tiny import build_tiny

METHODS = "sensitivity,elrp"
PACKAGE_SHIPPED = Path(__file__).resolve().parents[1] / "bench" / "regression" / "shipped"


def build_tiny48() -> ModelWrapper:
    """Another model: the tiny net at 48x48 input (its pixel hashes are taken at another size)."""
    model = build_tiny(seed=1, size=48)
    model.name = "tiny48"
    return model


def build_tiny_b() -> ModelWrapper:
    """Another model of the same input size as tiny (hashes compared directly)."""
    model = build_tiny(seed=2)
    model.name = "tiny_b"
    return model


def register(mp: pytest.MonkeyPatch) -> None:
    for name, size, builder in (("tiny48", 48, build_tiny48), ("tiny_b", 32, build_tiny_b)):
        mp.setitem(MODELS, name, ModelSpec(name, size, "x / 127.5 - 1", f"{__name__}:{builder.__name__}", None, "a test model"))


def run(out: Path, data: Path, model: str = "tiny", limit: int = 2) -> Path:
    argv = ["run", "--profile", "smoke", "--model", model, "--methods", METHODS, "--limit", str(limit)]
    assert main([*argv, "--data-dir", str(data), "--out", str(out)]) == 0
    return out


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    """The embedded images; a copy with one image's pixels changed under the same id; a copy
    with the ids renamed (the same pictures under other names)."""
    base = tmp_path_factory.mktemp("sets")
    original = embedded_image_set_dir()
    changed = base / "changed"
    shutil.copytree(original, changed)
    png = changed / "images" / "chelsea.png"
    Image.fromarray(255 - np.asarray(Image.open(png).convert("RGB"))).save(png)
    renamed = base / "renamed"
    shutil.copytree(original, renamed)
    csv = (renamed / "images.csv").read_text()
    for p in sorted((renamed / "images").glob("*.png")):
        p.rename(p.with_name(f"x-{p.name}"))
        csv = csv.replace(f"\n{p.stem},", f"\nx-{p.stem},")
    (renamed / "images.csv").write_text(csv)
    return {"original": original, "changed": changed, "renamed": renamed}


@pytest.fixture(scope="module")
def runs(sets, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        register(mp)
        return {
            "first": run(base / "first", sets["original"]),
            "same 48": run(base / "same48", sets["original"], "tiny48"),
            "changed 48": run(base / "changed48", sets["changed"], "tiny48"),
            "changed 32": run(base / "changed32", sets["changed"], "tiny_b"),
            "renamed 32": run(base / "renamed32", sets["renamed"], "tiny_b"),
            "one 32": run(base / "one32", sets["original"], "tiny_b", limit=1),
        }


def meta(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["meta", *argv, "--perturb-images", "0", "--bootstrap", "20"])
    return code, capsys.readouterr().err


# ------------------------------------------------------------------ pairing by id and pixels


def test_a_second_run_on_the_same_images_pairs_at_another_input_size(runs, sets, tmp_path, capsys):
    out = tmp_path / "meta"
    code, err = meta(capsys, str(runs["first"]), str(runs["same 48"]), "--out", str(out), "--data-dir", str(sets["original"]))
    assert code == 0, err
    assert "inter_model_tau" in (out / "meta.csv").read_text()


@pytest.mark.parametrize(
    "second, said",
    [
        ("changed 48", "1 share an id but not the pixels (chelsea)"),
        ("changed 32", "1 share an id but not the pixels (chelsea)"),
        ("renamed 32", "pair on 0 of 2 images"),
        ("one 32", "1 are only in first (chelsea)"),
    ],
)
def test_a_second_run_that_does_not_pair_everywhere_is_refused_naming_the_ids(second, said, runs, sets, tmp_path, capsys):
    out = tmp_path / "meta"
    code, err = meta(capsys, str(runs["first"]), str(runs[second]), "--out", str(out), "--data-dir", str(sets["original"]))
    assert code == 2, err
    assert said in err, err
    assert not out.exists()  # refused before anything was written


def test_images_read_again_from_another_folder_than_the_runs_are_refused(runs, sets, tmp_path, capsys):
    out = tmp_path / "meta"
    code, err = meta(capsys, str(runs["first"]), str(runs["same 48"]), "--out", str(out), "--data-dir", str(sets["changed"]))
    assert code == 2, err
    assert f"the images in {sets['changed']} are not those first ran on (chelsea differ)" in err
    assert not out.exists()


# ------------------------------------------------------------------ never into an input; shipped is read-only


@pytest.fixture
def reference(tmp_path) -> Path:
    """A reference of one's own: a copy of the shipped embedded-ci."""
    from bench.regression.references import load_reference

    ref = tmp_path / "ref"
    shutil.copytree(load_reference("embedded-ci").path, ref)
    return ref


@pytest.mark.parametrize("inside", ["", "sub"])
def test_meta_out_into_a_reference_is_refused_and_it_stays_loadable(inside, reference, capsys):
    from bench.regression.references import load_reference

    before = snapshot(reference)
    out = reference / inside if inside else reference
    for extra in ([], ["--attach"]):
        code, err = meta(capsys, str(reference), "--out", str(out), *extra)
        assert code == 2, err
        assert f"--out {out} is inside the SOURCE {reference}: bench meta never writes into its input" in err
    assert snapshot(reference) == before and not (reference / "sub").exists()
    load_reference(reference)  # every later check still accepts it


def test_meta_out_into_a_run_is_refused_but_its_own_meta_folder_is_not(runs, sets, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(runs["first"], copy)
    before = snapshot(copy)
    for out in (copy, copy / "figures"):
        code, err = meta(capsys, str(copy), "--out", str(out))
        assert code == 2 and f"(a run's own meta-evaluation goes to {copy / 'meta'})" in err, err
    code, err = meta(capsys, str(runs["same 48"]), str(copy), "--out", str(copy), "--data-dir", str(sets["original"]))
    assert code == 2 and f"is inside the SOURCE {copy}" in err, err  # the second SOURCE is an input too
    assert snapshot(copy) == before
    code, err = meta(capsys, str(copy), "--out", str(copy / "meta"))
    assert code == 0, err
    assert set(snapshot(copy)) - set(before) <= {f"meta/{n}" for n in ("meta.csv", "meta.md", "meta.json", "figures/meta.png")}


def shipped_files() -> dict[str, str]:
    return snapshot(PACKAGE_SHIPPED)


def test_attach_to_a_shipped_reference_is_refused_saying_copy_it_first(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BENCH_MAINTAINER", raising=False)
    before = shipped_files()
    out = tmp_path / "meta"
    code, err = meta(capsys, "embedded-ci", "--out", str(out), "--attach")
    assert code == 2, err
    assert "is a reference shipped with the suite (embedded-ci); it is read-only" in err
    assert "cp -r " in err and "python -m bench reference RUN_DIR --out DIR" in err and "BENCH_MAINTAINER=1" in err
    assert not out.exists()  # refused before any work
    code, err = meta(capsys, "embedded-ci", "--out", str(Path(str(load_path("embedded-ci"))) / "meta"))
    assert code == 2, err  # nor are meta's own files written into it
    assert shipped_files() == before


def load_path(name: str) -> Path:
    from bench.regression.references import load_reference

    return load_reference(name).path


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch) -> Path:
    """The shipped folder, copied: SHIPPED_DIR points there, so the maintainers' escape can be
    used without touching the package's own references."""
    from bench.regression import references

    folder = tmp_path / "shipped"
    shutil.copytree(PACKAGE_SHIPPED, folder)
    monkeypatch.setattr(references, "SHIPPED_DIR", folder)
    return folder


def test_the_maintainers_can_still_refresh_the_shipped_references(shipped_copy, runs, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BENCH_MAINTAINER", raising=False)
    package = shipped_files()
    before = snapshot(shipped_copy)
    meta_out = tmp_path / "meta"
    assert meta(capsys, "embedded-ci", "--out", str(meta_out), "--attach")[0] == 2
    target = shipped_copy / "embedded-ci"
    code = main(["reference", str(runs["first"]), "--out", str(target), "--name", "embedded-ci"])
    assert code == 2 and "it is read-only: freeze into a copy" in capsys.readouterr().err
    assert snapshot(shipped_copy) == before
    monkeypatch.setenv("BENCH_MAINTAINER", "1")  # the documented escape (bench/regression/shipped/README.md)
    code, err = meta(capsys, "embedded-ci", "--out", str(meta_out), "--attach")
    assert code == 0, err
    assert (target / "meta.csv").read_bytes() == (meta_out / "meta.csv").read_bytes()
    assert main(["reference", str(runs["first"]), "--out", str(target), "--name", "embedded-ci"]) == 0
    assert snapshot(target) != {k.removeprefix("embedded-ci/"): v for k, v in before.items() if k.startswith("embedded-ci/")}
    assert shipped_files() == package  # the package's own references did not change


# ------------------------------------------------------------------ grades on too few images; n beside every grade


def meta_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        [("ssim", "inter_rater_alpha", 0.95, 0.9, 1.0, n), ("png_bytes", "inter_rater_alpha", 0.1, 0.0, 0.2, n)],
        columns=["metric", "measure", "value", "ci_low", "ci_high", "n"],
    )


def test_a_grade_on_fewer_than_the_minimum_of_images_is_too_few_images():
    from bench.studies.meta.grades import MIN_IMAGES, TOO_FEW, grade_table

    few, enough = grade_table(meta_rows(MIN_IMAGES - 1)), grade_table(meta_rows(MIN_IMAGES))
    assert {m: (g["grade"], g["n"]) for m, g in few.items()} == {"ssim": (TOO_FEW, 5), "png_bytes": (TOO_FEW, 5)}
    assert {m: (g["grade"], g["n"]) for m, g in enough.items()} == {"ssim": ("high", 6), "png_bytes": ("low", 6)}


def test_meta_md_and_the_site_show_n_beside_every_grade(runs, tmp_path, capsys):
    out = tmp_path / "meta"
    code, err = meta(capsys, str(runs["first"]), "--out", str(out))
    assert code == 0, err
    text = (out / "meta.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "**" in line]
    assert rows and all("**too few images** (n=2)" in line for line in rows), rows  # 2 images: no high, no low
    assert "high" not in " ".join(rows)
    site = tmp_path / "site"
    assert main(["site", str(runs["first"]), str(out), "nips17-ci", "embedded-ci", "--out", str(site)]) == 0
    pages = " ".join(p.read_text() for p in site.glob("*.html"))
    assert "trust: too few images (n=2)" in pages  # the 2-image run's own grades
    assert "trust: too few images (n=5)" in pages  # embedded-ci: 5 images
    assert re.search(r"trust: (high|medium|low) \(n=6\)", pages)  # nips17-ci: 32 images, the perturbation test on 6
    assert not re.search(r"trust: (high|medium|low|too few images)<", pages)  # no grade without its n


def test_check_md_shows_n_beside_every_grade():
    from bench.regression.check import markdown
    from bench.studies.meta.grades import grade_table

    row = dict(higher_is_better=True, mean_diff=1.0, ci_low=0.5, ci_high=1.5, p_value=0.01, p_raw=0.01, n=2)
    result = {
        "method": "m",
        "reference": {"name": "r", "model": "tiny", "baselines": ["a"]},
        "images": ["x", "y"],
        "comparisons": [dict(row, baseline="a", metric=m, verdict="better") for m in ("ssim", "png_bytes")],
        "ranks": [{"metric": m, "higher_is_better": True, "rank": 1, "of": 2} for m in ("ssim", "png_bytes")],
        "against": None,
        "regressions": [],
        "statistics": {"verdict": "v", "test": "t", "correction": "c"},
        "seconds_per_image": [],
        "trust": grade_table(meta_rows(2)),
        "replacement_agreement": [],
    }
    text = markdown(result)
    assert "| ssim ↑ | 1 of 2 | too few images (n=2): inter_rater_alpha 0.95 |" in text, text
    assert "| png_bytes ↑ | 1 of 2 | too few images (n=2): inter_rater_alpha 0.10 |" in text  # not "low", no †
    result["trust"] = grade_table(meta_rows(32))
    assert "| png_bytes ↑ | 1 of 2 | low (n=32): inter_rater_alpha 0.10 |" in markdown(result)


# ------------------------------------------------------------------ a plug-in's perturbation test

PLUGIN = "examples.plugins.noisy_sensitivity:NoisySensitivity"


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plugin") / "run"
    argv = ["run", "--profile", "smoke", "--methods", f"sensitivity,{PLUGIN}", "--limit", "2"]
    assert main([*argv, "--data-dir", str(embedded_image_set_dir()), "--out", str(out)]) == 0
    return out


def test_a_plugin_methods_perturbation_test_can_be_requested_as_module_class(plugin_run, tmp_path, capsys):
    out = tmp_path / "meta"
    capsys.readouterr()
    argv = ["meta", str(plugin_run), "--out", str(out), "--bootstrap", "20", "--data-dir", str(embedded_image_set_dir())]
    assert main([*argv, "--perturb-images", "2", "--perturb-methods", f"sensitivity,{PLUGIN}"]) == 0
    perturbed = pd.read_csv(out / "perturbed.csv")
    assert set(perturbed["method"]) == {"sensitivity", "noisy_sensitivity"}
    assert set(perturbed["condition"]) == {"original", "noise", "randomised"}
    info = json.loads((out / "meta.json").read_text())
    assert info["perturbation"]["methods"] == ["sensitivity", "noisy_sensitivity"]
    assert "noise_resilience" in set(pd.read_csv(out / "meta.csv")["measure"])


def test_a_plugin_requested_by_its_stored_name_alone_is_told_to_use_module_class(plugin_run, tmp_path, capsys):
    out = tmp_path / "meta"
    capsys.readouterr()
    argv = ["meta", str(plugin_run), "--out", str(out), "--perturb-images", "2", "--perturb-methods", "noisy_sensitivity"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--perturb-methods noisy_sensitivity:" in err and "--perturb-methods module:Class" in err, err
    assert not out.exists()
