"""Local vs Ray: the same `bench run` on this machine and on a simulated multi-node Ray cluster.

    python benchmarks/bench_ray.py [--profile quick] [--limit 8] [--data-dir DIR] [--nodes 2] [--cpus-per-node 1]
                                   [--out results/benchmarks/bench_ray.json] [--runs results/ray-bench]

Starts a `ray.cluster_utils.Cluster` (NODES raylets of CPUS_PER_NODE CPUs each, on this machine),
runs `python -m bench run ... --executor local` into RUNS/local and the same command with
`--executor ray --ray-address <the cluster>` into RUNS/cluster, times both (the cluster's
start is not counted; the Ray run's time includes connecting and loading one model per
worker), and compares the results: metrics.csv and curves.csv byte for byte (metrics.csv
without the wall-time rows `method_seconds`, which differ run to run) and every record's
arrays with np.array_equal. The machine's load average is recorded beside each time (on a
shared machine it decides the times). An existing RUNS/local or RUNS/cluster is resumed by
the run, so delete them for a fresh measurement.

    python benchmarks/bench_ray.py faults [--methods deeplift,elrp,sensitivity] [--kill-after 5] [same options]

The fault runs, on the same simulated cluster, each compared with RUNS/local (made by the
first command): a worker process killed (SIGKILL) KILL_AFTER seconds into a unit, into
RUNS/fault-worker; then the driver killed once its first record is written and the same
command run again, into RUNS/fault-driver.

    python benchmarks/bench_ray.py discover [--models efficientnet_lite0,efficientnet_lite2] [--preset fast]
                                            [--param max_iterations=800] [same options]

``bench discover`` on the first LIMIT images, ``--executor local`` into RUNS/discover-local
and ``--executor ray`` on the simulated cluster into RUNS/discover-cluster, timed and compared
(every mask and record, discovery.csv).

    python benchmarks/bench_ray.py project [--repeat 3] [--out results/benchmarks/bench_ray_projection.json]

The paper-profile projection: the cost per image of each method and of the curves on
Inception V3 (299x299) measured here on a few steps (random weights: the cost does not
depend on their values), scaled to the paper profile's settings, and the wall time for 1,
10 and 50 workers (docs/how-to/cluster.md).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages first

from bench.datasets import load_image_set, resolve_data_dir
from bench.run.profile import load_profile
from bench.run.units import Unit, Worker, WorkSpec
from methods import build_method

REPO = Path(__file__).resolve().parents[1]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _run(argv: list[str], log: Path) -> tuple[float, int, list[float], list[float]]:
    before = _load()
    t0 = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.call(
            [sys.executable, "-m", "bench", *argv],
            cwd=REPO,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return time.perf_counter() - t0, rc, before, _load()


def compare(a: Path, b: Path) -> dict:
    """How the results of two run folders compare: tables and every record's arrays."""

    def metrics(path: Path) -> bytes:
        frame = pd.read_csv(path / "metrics.csv", dtype=str, keep_default_na=False)
        return frame[~frame["metric"].isin(["method_seconds", "seconds"])].to_csv(index=False).encode()

    records_a = sorted(p.relative_to(a) for p in a.rglob("*.npz"))
    records_b = sorted(p.relative_to(b) for p in b.rglob("*.npz"))
    unequal = []
    for rel in records_a:
        if rel not in records_b:
            continue
        with np.load(a / rel) as x, np.load(b / rel) as y:
            for key in x.files:
                if key == "metric_values":
                    names = list(x["metric_names"])
                    keep = [i for i, n in enumerate(names) if n not in ("method_seconds", "seconds")]
                    same = np.array_equal(x[key][keep], y[key][keep])
                else:
                    same = key in y.files and np.array_equal(x[key], y[key])
                if not same:
                    unequal.append(f"{rel}:{key}")
    maps_a = sorted(p.relative_to(a) for p in a.rglob("maps/*/*.npy"))
    unequal_maps = [str(r) for r in maps_a if not np.array_equal(np.load(a / r), np.load(b / r))]
    return {
        "metrics_csv_equal_without_wall_times": metrics(a) == metrics(b),
        "curves_csv_bytes_equal": (a / "curves.csv").read_bytes() == (b / "curves.csv").read_bytes(),
        "records": len(records_a),
        "same_record_files": records_a == records_b,
        "records_with_unequal_arrays": unequal,
        "maps": len(maps_a),
        "unequal_maps": unequal_maps,
    }


def timing(run_dir: Path) -> dict:
    run = json.loads((run_dir / "run.json").read_text())
    return {"timings_s": run["timings_s"], "images": len(run["image_ids"]), "status": run["status"]}


def start_cluster(args):
    """A ``ray.cluster_utils.Cluster`` of NODES raylets with CPUS_PER_NODE CPUs each, on this machine."""
    from ray.cluster_utils import Cluster  # noqa: PLC0415 - Ray is optional (the ray extra)

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cpus_per_node})
    for _ in range(args.nodes - 1):
        cluster.add_node(num_cpus=args.cpus_per_node)
    cluster.wait_for_nodes()
    return cluster


def run_locally(argv: list[str], log: Path) -> dict:
    """``python -m bench ARGV`` (the local executor), timed: an output's "local" entry."""
    seconds, rc, before, after = _run(argv, log)
    print(f"local: {seconds:.0f}s (rc {rc}, load {before} -> {after})", flush=True)
    return {"wall_s": seconds, "rc": rc, "load_before": before, "load_after": after}


def run_on_cluster(args, argv: list[str], log: Path) -> dict:
    """``python -m bench ARGV --executor ray`` on a fresh simulated cluster, timed: an output's "ray" entry."""
    import ray  # noqa: PLC0415 - Ray is optional (the ray extra)

    cluster = start_cluster(args)
    try:
        ray.init(address=cluster.address)
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        ray.shutdown()
        seconds, rc, before, after = _run([*argv, "--executor", "ray", "--ray-address", cluster.address], log)
    finally:
        cluster.shutdown()
    print(f"ray: {seconds:.0f}s (rc {rc}, load {before} -> {after})", flush=True)
    return {
        "wall_s": seconds,
        "rc": rc,
        "load_before": before,
        "load_after": after,
        "cluster": f"ray.cluster_utils.Cluster: {args.nodes} nodes of {args.cpus_per_node} CPU on this machine",
        "nodes": nodes,
        "log_lines": [line for line in log.read_text().splitlines() if line.startswith("ray:")],
    }


def main_compare(args) -> dict:
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    common = [
        "run",
        "--profile",
        args.profile,
        "--limit",
        str(args.limit),
        *(["--data-dir", args.data_dir] if args.data_dir else []),
    ]
    out: dict = {"profile": args.profile, "images": args.limit, "data_dir": args.data_dir, "cpus": os.cpu_count()}

    if not args.skip_local:
        out["local"] = run_locally([*common, "--out", str(runs / "local")], runs / "local.log")

    out["ray"] = run_on_cluster(args, [*common, "--out", str(runs / "cluster")], runs / "cluster.log")
    if (runs / "local" / "metrics.csv").is_file() and (runs / "cluster" / "metrics.csv").is_file():
        out["comparison"] = compare(runs / "local", runs / "cluster")
        out["local_run"] = timing(runs / "local")
        out["ray_run"] = timing(runs / "cluster")
    return out


def _actor_processes(raylets: set[int]) -> list[tuple[int, str]]:
    """(pid, title) of the Ray workers the given raylets started (their children): only this cluster's."""
    rows = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True).stdout.splitlines()
    out = []
    for row in rows:
        pid, ppid, title = row.strip().split(None, 2) + [""] * (3 - len(row.strip().split(None, 2)))
        if int(ppid) in raylets and title.startswith("ray::UnitActor"):
            out.append((int(pid), title))
    return out


def main_faults(args) -> dict:
    """A worker killed mid-unit, then a driver killed mid-run and the command rerun, on the simulated
    cluster; each result compared with RUNS/local (the methods run here, on the same images)."""
    import ray  # noqa: PLC0415 - Ray is optional (the ray extra)

    runs = Path(args.runs)
    common = ["run", "--profile", args.profile, "--limit", str(args.limit), "--methods", args.methods]
    common += ["--data-dir", args.data_dir] if args.data_dir else []
    cluster = start_cluster(args)
    raylets = {proc.pid for node in cluster.list_all_nodes() for name, proc in node.live_processes() if name == "raylet"}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    out: dict = {"methods": args.methods, "images": args.limit, "load_before": _load()}
    try:
        ray.init(address=cluster.address)
        ray.shutdown()
        ray_args = ["--executor", "ray", "--ray-address", cluster.address]

        # 1. a worker killed while it computes a unit
        folder, log = runs / "fault-worker", runs / "fault-worker.log"
        with open(log, "w") as fh:
            driver = subprocess.Popen(
                [sys.executable, "-m", "bench", *common, "--out", str(folder), *ray_args],
                cwd=REPO,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        killed = None
        while driver.poll() is None and killed is None:
            busy = [(pid, t) for pid, t in _actor_processes(raylets) if t.startswith("ray::UnitActor.run")]
            if busy:
                time.sleep(args.kill_after)  # mid-unit
                busy = [(pid, t) for pid, t in _actor_processes(raylets) if t.startswith("ray::UnitActor.run")]
                if busy:
                    killed = busy[0]
                    os.kill(killed[0], signal.SIGKILL)
            time.sleep(0.2)
        rc = driver.wait()
        text = log.read_text()
        out["worker_killed"] = {
            "killed": {"pid": killed[0], "title": killed[1]} if killed else None,
            "rc": rc,
            "log_lines": [line for line in text.splitlines() if line.startswith(("ray:", "  ["))],
            "comparison": compare_subset(runs / "local", folder, args.methods.split(",")),
        }
        print(json.dumps(out["worker_killed"], indent=1), flush=True)

        # 2. the driver killed once a record is written; the same command again
        folder, log = runs / "fault-driver", runs / "fault-driver.log"
        argv = [sys.executable, "-m", "bench", *common, "--out", str(folder), *ray_args]
        with open(log, "w") as fh:
            driver = subprocess.Popen(argv, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
        while driver.poll() is None and not list(folder.glob("records/*/*.npz")):
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        first_rc = driver.wait()
        records_at_kill = sorted(str(p.relative_to(folder)) for p in folder.glob("*/*/*.npz"))
        with open(runs / "fault-driver-rerun.log", "w") as fh:
            rc = subprocess.call(argv, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
        text = (runs / "fault-driver-rerun.log").read_text()
        out["driver_killed"] = {
            "first_rc": first_rc,
            "records_at_kill": records_at_kill,
            "rerun_rc": rc,
            "rerun_log_lines": [line for line in text.splitlines() if line.startswith(("ray:", "  [", "resuming", "removed"))],
            "comparison": compare_subset(runs / "local", folder, args.methods.split(",")),
        }
        print(json.dumps(out["driver_killed"], indent=1), flush=True)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    out["load_after"] = _load()
    return out


def main_discover(args) -> dict:
    """``bench discover`` on the first LIMIT images, local then on the simulated cluster, timed
    and compared: every mask (np.array_equal), every record.json but for its wall times, and
    discovery.csv byte for byte."""
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    ids = load_image_set(resolve_data_dir(args.data_dir)[0], size=(32, 32), limit=args.limit).ids
    common = ["discover", "--images", ",".join(ids), "--preset", args.preset]
    common += [f"--model={m}" for m in args.models.split(",")]
    common += [f"--param=noise_mask.{item}" for item in args.param]
    common += ["--data-dir", args.data_dir] if args.data_dir else []
    out: dict = {"command": common, "cpus": os.cpu_count()}
    out["local"] = run_locally([*common, "--out", str(runs / "discover-local")], runs / "discover-local.log")
    out["ray"] = run_on_cluster(args, [*common, "--out", str(runs / "discover-cluster")], runs / "discover-cluster.log")
    a, b = runs / "discover-local", runs / "discover-cluster"
    names = sorted(p.relative_to(a) for p in a.glob("records/*/*/*"))

    def without_times(path: Path) -> dict:
        record = json.loads(path.read_text())
        return {**record, "seconds": 0, "values": {k: v for k, v in record["values"].items() if k != "seconds"}}

    unequal = [
        str(n)
        for n in names
        if not (
            np.array_equal(np.load(a / n), np.load(b / n)) if n.suffix == ".npy" else without_times(a / n) == without_times(b / n)
        )
    ]
    out["comparison"] = {
        "files": len(names),
        "same_files": names == sorted(p.relative_to(b) for p in b.glob("records/*/*/*")),
        "unequal_files": unequal,
        "discovery_csv_bytes_equal": (a / "discovery.csv").read_bytes() == (b / "discovery.csv").read_bytes(),
    }
    return out


def compare_subset(reference: Path, run: Path, methods: list[str]) -> dict:
    """``run``'s tables and records against the same methods' in ``reference`` (a run of more methods)."""
    keep = {"random-order", *methods}
    mine = pd.read_csv(run / "metrics.csv", dtype=str, keep_default_na=False)
    theirs = pd.read_csv(reference / "metrics.csv", dtype=str, keep_default_na=False)
    theirs = theirs[theirs["method"].isin(keep)]
    wall = ["method_seconds", "seconds"]
    same_metrics = mine[~mine["metric"].isin(wall)].to_csv(index=False) == theirs[~theirs["metric"].isin(wall)].to_csv(
        index=False
    )
    c_mine = pd.read_csv(run / "curves.csv", dtype=str, keep_default_na=False)
    c_theirs = pd.read_csv(reference / "curves.csv", dtype=str, keep_default_na=False)
    same_curves = c_mine.to_csv(index=False) == c_theirs[c_theirs["method"].isin(keep)].to_csv(index=False)
    records = sorted(p.relative_to(run) for p in run.glob("*/*/*.npz"))
    unequal = []
    for rel in records:
        with np.load(run / rel) as x, np.load(reference / rel) as y:
            names = list(x["metric_names"])
            idx = [i for i, n in enumerate(names) if n not in wall]
            for key in x.files:
                a, b = (x[key][idx], y[key][idx]) if key == "metric_values" else (x[key], y[key])
                if not np.array_equal(a, b):
                    unequal.append(f"{rel}:{key}")
    return {
        "metrics_csv_equal_without_wall_times": same_metrics,
        "curves_csv_equal": same_curves,
        "records": len(records),
        "records_expected": len(list(reference.glob("baselines/*/*.npz")))
        + sum(len(list((reference / "records" / m).glob("*.npz"))) for m in methods),
        "records_with_unequal_arrays": unequal,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=("compare", "faults", "discover", "project"), default="compare")
    parser.add_argument("--models", default="efficientnet_lite0,efficientnet_lite2", help="discover: the models")
    parser.add_argument("--preset", default="fast", help="discover: the Noise Mask preset")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="discover: a Noise Mask parameter")
    parser.add_argument("--methods", default="deeplift,elrp,sensitivity", help="faults: the methods of the fault runs")
    parser.add_argument("--kill-after", type=float, default=5.0, help="faults: seconds into a unit before its worker is killed")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--runs", default="results/ray-bench")
    parser.add_argument("--skip-local", action="store_true", help="time only the Ray run (RUNS/local exists)")
    parser.add_argument("--repeat", type=int, default=3, help="project: measurements, of which the minimum counts")
    parser.add_argument("--measured", help="project: take the costs from this earlier output instead of measuring")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.what != "project":
        try:
            import ray  # noqa: F401, PLC0415 - Ray is optional (the ray extra): checked before it is needed
        except ImportError:
            print("bench_ray: skipped, Ray is not installed (pip install 'noise-mask-bench[ray]')")
            return 0
    if args.what == "compare":
        result = main_compare(args)
        out = Path(args.out or REPO / "results/benchmarks/bench_ray.json")
    elif args.what == "faults":
        result = main_faults(args)
        out = Path(args.out or REPO / "results/benchmarks/bench_ray_faults.json")
    elif args.what == "discover":
        result = main_discover(args)
        out = Path(args.out or REPO / "results/benchmarks/bench_ray_discover.json")
    else:
        result = project(args)
        out = Path(args.out or REPO / "results/benchmarks/bench_ray_projection.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "log_lines"}, indent=1, default=str)[:6000])
    print(f"written: {out}")
    return 0


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def makespan(costs: list[float], workers: int) -> float:
    """Wall time of units with these costs on ``workers`` identical workers, each taking the next
    unit when it is free, the longest first (the Ray executor's order)."""
    free = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free)


def measure_costs(args, built: dict, steps: int, pps: int) -> dict:
    """Seconds per image of each paper-profile method and of its curves on Inception V3 (299x299),
    measured here on reduced settings and scaled to the profile's: "paper" at the profile's batch
    sizes, "fine" at noise_mask.batch_size=1 and perturbation.batch_size=8."""
    from methods.occlusion import patch_starts  # noqa: PLC0415 - loads TensorFlow, which only this mode needs
    from models import from_keras, scale_preprocess  # noqa: PLC0415 - as above
    from models.keras_api import keras  # noqa: PLC0415 - as above

    load_before = _load()
    keras.utils.set_random_seed(0)
    build_s, net = _timed(keras.applications.InceptionV3, weights=None, classifier_activation=None)
    model = from_keras(net, scale_preprocess(1 / 127.5, -1.0), name="inception_v3 (random weights, for timing)")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (8, 299, 299, 3), dtype=np.uint8)
    targets = model.logits(pixels).argmax(axis=1)
    base = model.logits(pixels)
    reduced = {
        "deeplift": {},
        "intgrad": {"steps": 10},
        "elrp": {},
        "sensitivity": {},
        "perturbation": {"patch_size": 30, "stride": 30},  # covers every pixel, 100 patches
        "noise_mask": {"max_iterations": 10, "window": 10},
    }
    scale = {
        "intgrad": built["intgrad"].params["steps"] / 10,
        "perturbation": (
            len(patch_starts(299, built["perturbation"].params["patch_size"], built["perturbation"].params["stride"]))
            / len(patch_starts(299, 30, 30))
        )
        ** 2,
    }
    methods = {name: (name, {**built[name].params, **reduced[name]}) for name in built}
    spec = WorkSpec(
        "inception_v3", None, methods, {"steps": 4, "pixels_per_step": pps, "batch_size": 32, "png_compress_level": 9}
    )
    worker = Worker(spec, model=model, methods={name: build_method(s, p) for name, (s, p) in methods.items()})

    def unit(method: str, count: int, relevance=None) -> Unit:
        ids = [f"i{k}" for k in range(count)]
        return Unit(method, ids, pixels[:count], targets[:count], list(range(count)), base[:count], ("random-colour",), relevance)

    worker.run(unit("sensitivity", 2))  # warm-up
    curve_steps = 64
    variants = {  # method -> {variant: (images in the measured unit, parameters)}
        "perturbation": {"paper": (1, {}), "fine": (1, {"batch_size": 8})},
        "noise_mask": {"paper": (8, {}), "fine": (1, {"batch_size": 1})},
    }

    def explain_seconds(name: str, count: int, extra: dict) -> float:
        worker.methods[name] = build_method(name, {**methods[name][1], **extra})
        result = worker.run(unit(name, count))
        if name != "noise_mask":
            return result.explain_seconds / count * scale.get(name, 1.0)
        # per iteration: the difference of two lengths (tracing and the final evaluation cancel)
        worker.methods[name] = build_method(name, {**methods[name][1], **extra, "max_iterations": 40, "window": 40})
        longer = worker.run(unit(name, count))
        return (longer.explain_seconds - result.explain_seconds) / 30 / count * built[name].params["max_iterations"]

    def measure() -> dict[str, dict[str, float]]:
        """method -> {"paper": explain s/image, "fine": explain s/image, "curves": s/image}"""
        per_image: dict[str, dict[str, float]] = {}
        worker.spec = spec
        for name in built:
            if name in variants:
                per_image[name] = {v: explain_seconds(name, count, extra) for v, (count, extra) in variants[name].items()}
            else:
                per_image[name] = dict.fromkeys(("paper", "fine"), explain_seconds(name, 2, {}))
        # the curves cost the same for every method (2 x steps forward passes per image): measured once,
        # on 64 steps (MoRF and LeRF of the sensitivity maps; the random order is one curve)
        worker.spec = WorkSpec("inception_v3", None, methods, {**spec.metric_settings, "steps": curve_steps})
        relevance = worker.run(unit("sensitivity", 2)).relevance
        curves_s = worker.run(unit("sensitivity", 2, relevance)).metrics_seconds / 2 * steps / curve_steps
        random_s = worker.run(unit("random-order", 2)).metrics_seconds / 2 * steps / curve_steps
        for name in built:
            per_image[name]["curves"] = curves_s
        per_image["random-order"] = {"paper": 0.0, "fine": 0.0, "curves": random_s}
        return per_image

    # a shared machine: the least disturbed of a few measurements (the minimum of each cost), after one
    # whose figures are dropped (TensorFlow traces each method for each new batch shape on first use)
    trials = [measure() for _ in range(args.repeat + 1)][1:]
    per_image = {name: {key: min(t[name][key] for t in trials) for key in trials[0][name]} for name in trials[0]}
    return {
        "load_before": load_before,
        "load_after": _load(),
        "measured_on": {
            "images": "2 (noise_mask: 8 at batch 8, 1 at batch 1; perturbation: 1)",
            "curve_steps": curve_steps,
            "reduced_settings": reduced,
            "scaled_by": scale,
            "repeats": args.repeat,
            "every_trial": trials,
        },
        "model_build_s": build_s,
        "per_image_s": per_image,
    }


def project(args) -> dict:
    """The paper profile's units and their projected wall time on 1, 10 and 50 workers, from costs
    measured now (:func:`measure_costs`) or read from an earlier output (``--measured``)."""
    paper = load_profile("paper")
    steps, pps = int(paper["metrics"]["steps"]), int(paper["metrics"]["pixels_per_step"])
    images_total = int(paper["run"]["images"])
    built = {m: build_method(m, paper["methods"].get(m, {})) for m in paper["run"]["methods"]}
    if args.measured:
        keys = ("load_before", "load_after", "measured_on", "model_build_s", "per_image_s")
        measured = {key: json.loads(Path(args.measured).read_text())[key] for key in keys}
    else:
        measured = measure_costs(args, built, steps, pps)
    per_image, build_s = measured["per_image_s"], measured["model_build_s"]

    def units_for(batch: dict[str, int]) -> list[tuple[str, float]]:
        """(method, seconds) of every unit; a method given a batch size here costs its "fine" figure."""
        out = []
        for name, cost in per_image.items():
            chunk = 8 if name == "random-order" else batch.get(name, built[name].params.get("batch_size", 8))
            explain = cost["fine" if name in batch else "paper"]
            for lo in range(0, images_total, chunk):
                count = min(chunk, images_total - lo)
                out.append((name, count * (explain + cost["curves"])))
        return out

    load_s = build_s + 2.0  # + reading the 92 MB .h5 weights, about 2 s
    settings = {
        "paper profile's batch sizes": {},
        "perturbation.batch_size=8": {"perturbation": 8},
        "noise_mask.batch_size=1, perturbation.batch_size=8": {"noise_mask": 1, "perturbation": 8},
    }
    projection = {}
    for label, batch in settings.items():
        units = units_for(batch)
        costs = [c for _, c in units]
        rows = {}
        for workers in (1, 10, 50):
            rows[workers] = {
                "wall_h": (makespan(costs, workers) + load_s) / 3600,
                "lower_bound_h": max(sum(costs) / workers, max(costs)) / 3600,
            }
        projection[label] = {
            "units": len(units),
            "total_h": sum(costs) / 3600,
            "longest_unit_h": max(costs) / 3600,
            "longest_unit": max(units, key=lambda u: u[1])[0],
            "workers": rows,
        }
    return {
        "what": "paper profile (Inception V3 299x299, 200 images, 800 steps of 100 pixels, faithful Noise Mask capped at "
        "15,000 iterations) projected from per-image costs measured here on reduced settings (random weights)",
        "machine": f"{os.cpu_count()} cores; one worker = TensorFlow on all of them",
        **measured,
        "projection": projection,
    }


if __name__ == "__main__":
    sys.exit(main())
