"""What a plain ``pip install noise-mask-bench`` brings: the suite's run-time needs, not its tests'."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "methods", "metrics", "models", "common")
TEST_ONLY = ("pytest", "pytest_benchmark")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("-", "_")


def test_test_tools_are_in_the_test_extra_only():
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}
    assert not runtime & set(TEST_ONLY), f"runtime dependencies hold test tools: {runtime & set(TEST_ONLY)}"
    assert {_name(r) for r in project["optional-dependencies"]["test"]} >= set(TEST_ONLY)


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return {name.split(".")[0] for name in names}


def test_the_installed_packages_import_no_test_tool():
    # so that dropping them from the runtime dependencies breaks nothing a user runs
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found = _imported(path) & set(TEST_ONLY)
            assert not found, f"{path.relative_to(ROOT)} imports {found}: only tests may"
