"""A run of 2 images from a big data folder costs what it costs from a folder of 2 rows (issue 23).

``python -m bench run --profile smoke --limit 2`` on a folder of ``--rows`` rows (hard links to
one 299x299 PNG, made in a temporary folder) against one of 2 rows, each as its own process:
wall time and peak memory (the child's max RSS). Before the loader chose the images from the
table, the 20,000-row run decoded every image (about 6x the time of the 2-row run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.datasets.imageset import CSV_COLUMNS  # noqa: E402


def linked_set(root: Path, rows: int, png: Path) -> Path:
    (root / "images").mkdir(parents=True)
    ids = [f"img{i:06d}" for i in range(rows)]
    for image_id in ids:
        os.link(png, root / "images" / f"{image_id}.png")
    table = pd.DataFrame({c: [""] * rows for c in CSV_COLUMNS})
    table["ImageId"], table["TrueLabel"], table["TargetClass"] = ids, [1 + i % 1000 for i in range(rows)], 500
    table.to_csv(root / "images.csv", index=False)
    return root


def timed_run(data: Path, out: Path) -> dict:
    """Wall seconds and peak RSS (MB) of one ``bench run`` process."""
    argv = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--profile",
        "smoke",
        "--limit",
        "2",
        "--data-dir",
        str(data),
        "--out",
        str(out),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench run on {data} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-data-rows-") as tmp:
        tmp = Path(tmp)
        png = tmp / "one.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (299, 299, 3), dtype=np.uint8)).save(png)
        results = {}
        for rows in (2, args.rows):
            results[f"rows_{rows}"] = timed_run(linked_set(tmp / f"rows{rows}", rows, png), tmp / f"run{rows}")
    big, small = results[f"rows_{args.rows}"], results["rows_2"]
    results["time_ratio"] = round(big["wall_s"] / small["wall_s"], 2)
    results["memory_ratio"] = round(big["peak_rss_mb"] / small["peak_rss_mb"], 2)
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
