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


def _toxfile():
    import importlib.util

    spec = importlib.util.spec_from_file_location("toxfile_under_test", ROOT / "toxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tox_says_what_it_installs_before_the_first_install(tmp_path, capsys):
    from types import SimpleNamespace

    toxfile = _toxfile()
    fresh = SimpleNamespace(name="reproduce", env_site_package_dir=lambda: tmp_path / "fresh")
    toxfile.tox_on_install(fresh, [], "RunToxEnv", "deps")  # not the suite's package: nothing yet
    assert capsys.readouterr().out == ""
    toxfile.tox_on_install(fresh, [], "RunToxEnv", "package")
    said = capsys.readouterr().out
    assert said.startswith("reproduce: installing") and "TensorFlow" in said and "about 3 minutes" in said
    toxfile.tox_on_install(fresh, [], "RunToxEnv", "package")  # once per environment
    (tmp_path / "ready" / "tensorflow").mkdir(parents=True)
    ready = SimpleNamespace(name="test", env_site_package_dir=lambda: tmp_path / "ready")
    toxfile.tox_on_install(ready, [], "RunToxEnv", "package")  # installed before: quick, nothing to say
    assert capsys.readouterr().out == ""
