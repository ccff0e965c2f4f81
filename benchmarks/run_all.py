"""Run every benchmark script; each writes its JSON to results/benchmarks/ (``tox -e bench``).

Each script measures its figures as ratios against a baseline timed in the same process
(absolute times on shared machines are noisy). Extra arguments select scripts by name,
e.g. ``python benchmarks/run_all.py bench_models``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "results" / "benchmarks"


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem in argv]
    OUT.mkdir(parents=True, exist_ok=True)
    failed = []
    for script in scripts:
        out = OUT / f"{script.stem}.json"
        print(f"== {script.stem} -> {out}", flush=True)
        if subprocess.call([sys.executable, str(script), "--out", str(out)]) != 0:
            failed.append(script.stem)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
