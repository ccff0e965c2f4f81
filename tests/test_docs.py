"""The documentation: the README's promises, the code blocks a reader would run, the generated
command reference, and the site's strict build (mkdocs.yml, docs/).

A fenced block on the line after ``<!-- docs-test: run -->`` is run (bash in ``bash -e``, python
with this interpreter), in a temporary folder with the repository on ``PYTHONPATH``; every other
``bash``, ``python`` and ``toml`` block must at least parse.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
RUN_MARKER = "<!-- docs-test: run -->"
TWO_COMMANDS = (
    "pip install tox && tox -e reproduce      # the main job: runs the benchmark, writes results/<run>/report.md",
    "pip install tox && tox -e test           # the test suite",
)
FENCE = re.compile(r"^```(\w*)\s*$")


def code_blocks(path: Path) -> list[dict]:
    """Each fenced block of a Markdown file: language, code, first line, and whether it is marked to run."""
    lines, blocks, i = path.read_text().splitlines(), [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        marked = i > 0 and lines[i - 1].strip() == RUN_MARKER
        blocks.append(
            {
                "lang": opening.group(1),
                "code": "\n".join(lines[i + 1 : end]) + "\n",
                "where": f"{path.relative_to(ROOT)}:{i + 1}",
                "run": marked,
            }
        )
        i = end + 1
    return blocks


BLOCKS = [block for page in PAGES for block in code_blocks(page)]


def _unique(blocks: list[dict]) -> list[dict]:
    """One of each distinct block (the README's tour is also the tutorial's rehearsal)."""
    return list({(b["lang"], b["code"]): b for b in reversed(blocks)}.values())[::-1]


RUNNABLE = _unique([b for b in BLOCKS if b["run"]])


def load_cli_reference():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", DOCS / "gen_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short_and_starts_with_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    lines = text.splitlines()
    for command in TWO_COMMANDS:
        assert command in lines, f"README.md lost the line {command!r}"


def test_readme_says_how_long_the_main_job_and_the_tour_take():
    text = README.read_text()
    two_commands = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    # the figure sits between markers so that a new measurement can replace it
    assert re.search(r"<!-- TIME -->\S[^<]*minutes<!-- /TIME -->", two_commands), "the main job's time is missing"
    tour = next(line for line in text.splitlines() if line.startswith("## A tour"))
    assert "minute" in tour and "five-minute" not in tour


def test_every_run_marker_is_followed_by_a_runnable_block():
    for page in PAGES:
        lines = page.read_text().splitlines()
        for n, line in enumerate(lines):
            if line.strip() == RUN_MARKER:
                assert n + 1 < len(lines) and re.match(r"^```(bash|python)\s*$", lines[n + 1]), f"{page}:{n + 1}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b["lang"] == "bash"], ids=lambda b: b["where"])
def test_bash_blocks_parse(block):
    result = subprocess.run(["bash", "-n"], input=block["code"], capture_output=True, text=True)
    assert result.returncode == 0, f"{block['where']}: {result.stderr}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b["lang"] == "python"], ids=lambda b: b["where"])
def test_python_blocks_compile(block):
    compile(block["code"], block["where"], "exec")


@pytest.mark.parametrize("block", [b for b in BLOCKS if b["lang"] == "toml"], ids=lambda b: b["where"])
def test_toml_blocks_parse(block):
    tomllib.loads(block["code"])


def test_there_are_blocks_to_run():
    # the marker is what makes a block run: a typo in it would silently leave every block untested
    assert {b["lang"] for b in RUNNABLE} == {"bash", "python"}
    assert any("bench check" in b["code"] for b in RUNNABLE)


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b["where"])
def test_runnable_blocks_run(block, tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    command = ["bash", "-e", "-c", block["code"]] if block["lang"] == "bash" else [sys.executable, "-c", block["code"]]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{block['where']} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def test_the_profiles_example_is_the_shipped_quick_profile():
    (example,) = [b for b in code_blocks(DOCS / "reference" / "profiles.md") if b["lang"] == "toml"]
    shipped = (ROOT / "bench" / "run" / "profiles" / "quick.toml").read_text()
    assert tomllib.loads(example["code"]) == tomllib.loads(shipped)


def _table_keys(page: str, heading: str) -> set[str]:
    section = page.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def test_every_profile_setting_is_documented():
    from bench.run.profile import METRIC_SETTINGS, RUN_SETTINGS

    page = (DOCS / "reference" / "profiles.md").read_text()
    assert _table_keys(page, "`[run]`") == set(RUN_SETTINGS)
    assert _table_keys(page, "`[metrics]`") == set(METRIC_SETTINGS)


def test_the_command_reference_lists_every_command_and_flag():
    from bench.cli import build_parser

    generator = load_cli_reference()
    parser = build_parser()
    text = generator.render(parser)
    sections = {s.split("\n", 1)[0]: s for s in text.split("\n## ")[1:]}
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sections) == set(subparsers.choices)
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings or [action.metavar or action.dest]:
                assert f"`{flag}`" in sections[name], f"bench {name}: {flag} is missing from the command reference"


def test_the_committed_command_reference_is_current():
    # committed so that it reads on GitHub (links such as cli.md#run); the parser is its source
    generator = load_cli_reference()
    page = DOCS / "reference" / "cli.md"
    text = page.read_text()
    assert text == generator.updated(text), f"docs/reference/cli.md is out of date; regenerate it: {generator.REGENERATE}"


def test_the_command_reference_wraps_usage_the_same_on_every_python():
    generator = load_cli_reference()
    parser = argparse.ArgumentParser(prog="python -m bench x")
    for flag in ("--alpha", "--beta", "--gamma", "--delta", "--epsilon", "--zeta"):
        parser.add_argument(flag, metavar="VALUE", required=flag == "--gamma")
    lines = generator.usage(parser).splitlines()
    assert lines == [
        "usage: python -m bench x [-h] [--alpha VALUE] [--beta VALUE] --gamma VALUE [--delta VALUE]",
        "                         [--epsilon VALUE] [--zeta VALUE]",
    ]


def test_the_command_reference_expands_help_like_argparse():
    generator = load_cli_reference()
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--rate", default=5, help="a rate in %% (default: %(default)s)")
    assert generator.command_section("x", "", parser)[-2].endswith("| a rate in % (default: 5) |")


def test_images_exist_and_are_small():
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            image = (page.parent / target).resolve()
            assert image.is_file(), f"{page.relative_to(ROOT)}: {target} is missing"
            assert image.stat().st_size < 200_000, f"{target}: {image.stat().st_size} bytes"


def test_the_site_builds_with_strict_warnings(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("mkdocs is not installed, and CI must build the site: pip install -e '.[docs]'")
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]' (or run tox -e docs)")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-5000:]
    commands = (site / "reference" / "cli" / "index.html").read_text()
    assert 'id="check"' in commands and "--tolerance" in commands and "<!-- cli-reference -->" not in commands
    api = (site / "reference" / "api" / "methods" / "index.html").read_text()
    assert "SaliencyMethod" in api and ":class:" not in api


STALE = re.compile(r"\bSPEC section|\bthe spec's (map|rendering|section|baseline|grayscale)|\bspec section", re.IGNORECASE)


def test_no_text_cites_a_spec_file():
    # there is none in the repository: a rule is cited by the thesis's table or section, or by the module that fixes it
    packages = ("bench", "methods", "metrics", "models", "common")
    texts = [*PAGES, ROOT / "results" / "README.md", *(p for d in packages for p in sorted((ROOT / d).rglob("*.py")))]
    stale = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in texts for m in STALE.finditer(p.read_text())]
    assert not stale, stale


def test_results_readme_names_only_folders_that_exist():
    text = (ROOT / "results" / "README.md").read_text()
    for folder in re.findall(r"`([\w./-]+/)`", text):
        assert (ROOT / folder).is_dir() or (ROOT / "results" / folder).is_dir(), f"results/README.md: {folder} does not exist"


def test_the_readme_site_block_installs_the_extra_first():
    from bench.cli.site import INSTALL_HINT

    (block,) = [b for b in code_blocks(README) if "python -m bench site" in b["code"]]
    install, command = block["code"].index("pip install -e '.[site]'"), block["code"].index("python -m bench site")
    assert install < command and "pip install 'noise-mask-bench[site]'" in block["code"]
    assert "pip install -e '.[site]'" in INSTALL_HINT  # what `bench site` says is what the README shows
