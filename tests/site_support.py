"""The site that tests/test_site.py and tests/test_site_browser.py share, built once per session
from the shipped references nips17-ci and embedded-ci and three checks of sensitivity against
embedded-ci (the embedded images: no data to fetch):

* the latest is a real ``bench check`` (its run holds the maps and curves the explorer shows);
* two earlier ones stand for the checks of earlier commits: the check's own writer
  (:func:`bench.regression.check.assemble`, :func:`~bench.regression.check.markdown`) on the real
  check's values scaled by a few percent, dated one and two days before, so that the history has
  three points that differ.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.regression.check import CHECK_JSON, assemble, markdown, parse_tolerances
from bench.regression.references import load_reference
from common.files import write_json, write_text

EARLIER = {"sensitivity-2-days-ago": (2, 0.97), "sensitivity-1-day-ago": (1, 1.02)}
"""Earlier checks: folder -> (days before the real check, factor on its values)."""


def earlier_check(real: dict, out: Path, days: int, factor: float) -> Path:
    ref = load_reference("embedded-ci")
    values = {m: np.asarray(v) * factor for m, v in real["values"].items()}
    result = assemble(real["method"], real["method_spec"], real["params"], ref, values, None, None, parse_tolerances(None))
    result["created"] = (datetime.fromisoformat(real["created"]) - timedelta(days=days)).isoformat(timespec="seconds")
    write_json(out / CHECK_JSON, result)
    write_text(out / "check.md", markdown(result))
    return out


def make_checks(root: Path) -> list[Path]:
    real = root / "sensitivity-now"
    assert main(["check", "sensitivity", "--reference", "embedded-ci", "--out", str(real)]) == 0
    result = json.loads((real / CHECK_JSON).read_text())
    return [earlier_check(result, root / name, *how) for name, how in EARLIER.items()] + [real]


_BUILT: dict[str, tuple[Path, list[Path]]] = {}
"""The site, once per session: each test module that imports the fixture registers a fixture of
its own, and both return this."""


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> tuple[Path, list[Path]]:
    """(the site's folder, the check folders, oldest first)."""
    if not _BUILT:
        root = tmp_path_factory.mktemp("site")
        checks = make_checks(root)
        site = root / "site"
        assert main(["site", "nips17-ci", "embedded-ci", *map(str, checks), "--out", str(site)]) == 0
        _BUILT["site"] = site, checks
    return _BUILT["site"]
