"""Shared fixtures. Data from ../shared is read in place, never copied into the repo."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_SAMPLE = Path(os.environ.get("BENCH_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared")) / "data" / "nips17-dev-sample"


@pytest.fixture(scope="session")
def shared_sample() -> Path:
    """The 100-image NIPS-2017 sample in ../shared (skips when absent)."""
    if not (SHARED_SAMPLE / "images.csv").is_file():
        pytest.skip(f"shared NIPS-2017 sample not found at {SHARED_SAMPLE} (set BENCH_SHARED_DIR to the folder holding data/)")
    return SHARED_SAMPLE
