"""Optional iNNvestigate 2.1.2 backend for ``sensitivity``, ``intgrad`` and ``elrp``.

iNNvestigate needs TF2 eager execution disabled, which is process-wide, while the rest of
the suite runs eagerly. So the analysis runs in a separate worker *process*
(``python -m methods.innvestigate_backend DIR``): the parent writes the Keras model as
JSON config + weights, the inputs (already in the model's input space), the targets and
the job into a temporary folder; the worker disables eager execution, rebuilds the model
inside its graph, runs the iNNvestigate analyzer and writes the analysis back.

Two fixes are applied inside the worker only, from outside iNNvestigate (its files are not
touched):

* Fast build. iNNvestigate builds its analyzer with TF ops on Keras tensors; under
  disabled eager execution Keras wraps every op in a ``TensorFlowOpLayer`` and, for each
  constant input of such an op, evaluates it in a *new session callable* (Keras'
  ``_create_keras_history_helper``). Each call extends the session with the whole
  (growing) graph, so the build is superlinear in the model size (measured: 395 s on
  EfficientNet-Lite0, 925 s on Inception V3). Keras' module flag
  ``keras.src.engine.base_layer_utils._UNSAFE_GRAPH_OP_LAYER_CREATION = True`` keeps those
  constants as graph tensors instead of evaluating them. That only breaks ``get_config``
  of the generated op layers (never used here); analyses are bit-identical (measured on a
  conv net: max difference 0.0). The same flag also removes the
  ``TypeError: Cannot convert the argument `type_value`: dtype([('resource', 'u1')])``
  of ``integrated_gradients`` (a variable handle that was evaluated as a constant).
  ``fast_build=False`` runs iNNvestigate unpatched.
* Model checks. ``AnalyzerBase._do_model_checks`` raises ``NotImplementedError`` after
  *warning*-type checks (a missing ``else``), which is why ``lrp.epsilon`` failed on
  ``ReLU(6.)`` and ``DepthwiseConv2D`` layers ("LRP is only tested for convolutional
  neural networks", a warning). The worker replaces it by the evidently intended version:
  warnings warn, exception-type checks still raise.

Semantics worth knowing: iNNvestigate's ``lrp.epsilon`` applies the epsilon rule at every
layer with a kernel and at BatchNormalization, and passes relevance through ``Activation``
layers but back-propagates through ``ReLU`` layers with their ordinary gradient (so a
saturated ReLU6 unit drops its relevance); DeepExplain's (the native) eps-LRP stabilises
only at nonlinearities. On EfficientNet-Lite0 (BatchNormalization after every convolution)
iNNvestigate's relevances reach ~1e33, uncorrelated with the native map. On a network of Conv/Dense layers followed by ReLUs, without
BatchNormalization, the two agree up to a factor z/(z + eps) at the output logit.
iNNvestigate's ``integrated_gradients`` uses the left Riemann rule (points k/steps,
k = 0..steps-1); for any other rule the backend sums iNNvestigate's ``gradient`` analysis
over the rule's interpolated inputs instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ANALYZERS = ("gradient", "lrp.epsilon", "integrated_gradients", "gradient_path")
"""Jobs the worker runs. ``gradient_path``: iNNvestigate's gradient summed over given
interpolation points (IG with any Riemann rule)."""


class InnvestigateBackendError(RuntimeError):
    """The iNNvestigate worker process failed."""


def analyze(
    keras_model: Any,
    job: dict[str, Any],
    x: np.ndarray,
    targets: np.ndarray,
    batch_size: int = 16,
    fast_build: bool = True,
    timeout: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run one iNNvestigate analysis in a worker process; returns (analysis, info).

    ``job``: ``{"analyzer": "gradient"}``, ``{"analyzer": "lrp.epsilon", "epsilon": e}``,
    ``{"analyzer": "integrated_gradients", "steps": n, "reference": x0 (H, W, C)}`` or
    ``{"analyzer": "gradient_path", "alphas": [...], "weights": [...], "reference": x0}``.
    ``x`` is in the model's input space; ``targets`` are class indices.
    """
    job = dict(job)
    if job.get("analyzer") not in ANALYZERS:
        raise ValueError(f"job analyzer must be one of {ANALYZERS}; got {job.get('analyzer')!r}")
    try:
        config = keras_model.to_json()
    except Exception as err:
        raise InnvestigateBackendError(
            f"the iNNvestigate backend needs a model Keras can serialise to JSON: {type(err).__name__}: {err}"
        ) from None
    with tempfile.TemporaryDirectory(prefix="innvestigate_") as tmp:
        d = Path(tmp)
        (d / "model.json").write_text(config)
        np.savez(d / "weights.npz", *keras_model.get_weights())
        arrays: dict[str, np.ndarray] = {"x": np.asarray(x, np.float32), "targets": np.asarray(targets, np.int64).reshape(-1)}
        if "reference" in job:
            arrays["reference"] = np.asarray(job.pop("reference"), np.float32)
        # numpy's stub types **kwds as if a key could be `allow_pickle`; these keys are array names
        np.savez(d / "inputs.npz", **arrays)  # type: ignore[arg-type]
        (d / "job.json").write_text(json.dumps({**job, "batch_size": int(batch_size), "fast_build": bool(fast_build)}))
        root = str(Path(__file__).resolve().parents[1])  # so that the worker finds this package
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "methods.innvestigate_backend", str(d)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise InnvestigateBackendError(f"iNNvestigate worker exceeded {timeout} s") from None
        if proc.returncode != 0 or not (d / "result.npz").exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
            raise InnvestigateBackendError(f"iNNvestigate worker failed (exit {proc.returncode}):\n{tail}")
        analysis = np.load(d / "result.npz")["analysis"]
        info = json.loads((d / "info.json").read_text())
        info["worker_seconds"] = time.perf_counter() - start
    return analysis, info


# ------------------------------------------------------------------------ worker side


def _patch_model_checks() -> None:
    """Replace AnalyzerBase._do_model_checks by the intended version (see module doc)."""
    import innvestigate.analyzer.base as base  # noqa: PLC0415 - optional (TF < 2.15 only), worker process only
    import innvestigate.backend.graph as igraph  # noqa: PLC0415 - as above

    def _do_model_checks(self: Any) -> None:
        if not self._disable_model_checks and len(self._model_checks) > 0:
            checked = igraph.model_contains(self._model, [c["check"] for c in self._model_checks])
            for layers, check in zip(checked, self._model_checks):
                if len(layers) > 0:
                    message = check["message"] + f"\nCheck triggered by layers: {[layer.name for layer in layers]}"
                    if check["check_type"] == "exception":
                        raise base.NotAnalyzeableModelException(message)
                    warnings.warn(message, stacklevel=2)
        self._model_check_done = True

    base.AnalyzerBase._do_model_checks = _do_model_checks


def _worker(folder: Path) -> None:
    import tensorflow as tf  # noqa: PLC0415 - the worker sets TensorFlow and Keras up in this order

    tf.compat.v1.disable_eager_execution()
    job = json.loads((folder / "job.json").read_text())
    info: dict[str, Any] = {"analyzer": job["analyzer"], "fast_build": job["fast_build"]}
    if job["fast_build"]:
        import keras.src.engine.base_layer_utils as blu  # noqa: PLC0415 - before iNNvestigate builds (module docstring)

        if not hasattr(blu, "_UNSAFE_GRAPH_OP_LAYER_CREATION"):
            raise RuntimeError("this Keras has no _UNSAFE_GRAPH_OP_LAYER_CREATION flag; use fast_build=False")
        blu._UNSAFE_GRAPH_OP_LAYER_CREATION = True
    import innvestigate  # noqa: PLC0415 - optional (TF < 2.15 only), imported after the flag above is set

    _patch_model_checks()
    model = tf.keras.models.model_from_json((folder / "model.json").read_text())
    with np.load(folder / "weights.npz") as w:
        model.set_weights([w[f"arr_{i}"] for i in range(len(w.files))])
    with np.load(folder / "inputs.npz") as arrays:
        x, targets = arrays["x"], arrays["targets"]
        reference = arrays["reference"] if "reference" in arrays.files else None
    batch = max(1, int(job["batch_size"]))
    name = job["analyzer"]

    start = time.perf_counter()
    if name == "integrated_gradients":
        analyzer = innvestigate.create_analyzer(
            "integrated_gradients",
            model,
            neuron_selection_mode="index",
            steps=int(job["steps"]),
            reference_inputs=0 if reference is None else reference,
        )
        batch = 1  # the analyzer expands each batch by `steps`
    elif name == "lrp.epsilon":
        analyzer = innvestigate.create_analyzer(
            "lrp.epsilon", model, neuron_selection_mode="index", epsilon=float(job["epsilon"])
        )
    else:
        analyzer = innvestigate.create_analyzer("gradient", model, neuron_selection_mode="index")
    analyzer.create_analyzer_model()
    info["build_seconds"] = time.perf_counter() - start

    start = time.perf_counter()
    if name == "gradient_path":
        from methods.attribution_helpers import integrate_path  # noqa: PLC0415 - loads Keras, after the setup above

        x0 = np.zeros_like(x[0]) if reference is None else reference
        analysis = integrate_path(
            lambda points, t: analyzer.analyze(points, neuron_selection=t),
            x,
            targets,
            x0,
            np.asarray(job["alphas"], np.float64),
            np.asarray(job["weights"], np.float64),
            batch,
        )
    else:
        parts = [analyzer.analyze(x[s : s + batch], neuron_selection=targets[s : s + batch]) for s in range(0, len(x), batch)]
        analysis = np.concatenate(parts)
    info["analyze_seconds"] = time.perf_counter() - start
    np.savez(folder / "result.npz", analysis=np.asarray(analysis, np.float32))
    (folder / "info.json").write_text(json.dumps(info))


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
