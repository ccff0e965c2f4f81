"""Model discovery (thesis Section 4.3): Noise Mask on six layers of each network.

``python -m bench discover --model M [...] --out DIR`` picks six layers per model by the
thesis's rule (:func:`models.layers.discovery_layers`, or ``--layers``), runs Noise Mask with
F_l = each layer's output on every image (beta0 per image and per layer), and writes

* ``DIR/discovery.json``: the settings, the layers chosen per model, the fingerprint a
  resumed run must match, timings;
* ``DIR/records/<model>/<position>-<layer>/``: ``masks.npy`` (N, H, W) and ``record.json``
  (per-image Noise Mask diagnostics), one record per (model, layer), written atomically;
  a rerun skips the records present; the records are computed as units (:mod:`.units`) by
  the local or the Ray executor (``--executor ray``);
* ``DIR/discovery.csv``: one row per (model, layer, image) with :data:`CSV_COLUMNS` (the
  mask's spread: :func:`metrics.mask_spread.spread`);
* ``DIR/report.md``: settings, layers, a table per model, and the thesis's observations,
  each tested as defined in :data:`OBSERVATIONS`;
* ``DIR/figures/masks_<image_id>.png`` (models x layers, as thesis Figures 9-11) and
  ``DIR/figures/by_layer.png``.

The modules: :mod:`.run` (arguments and the resumable driver), :mod:`.units`, :mod:`.records`
(the folder's records and the table), :mod:`.observations` (the verdict rules),
:mod:`.report`, :mod:`.figures`.
"""

from bench.studies.discovery.observations import (
    OBSERVATIONS,
    Observation,
    Verdict,
    concentrates_on_subject,
    loss_falls,
    resnet_keeps_more_background,
    resnet_keeps_more_loss,
    spread_gathers,
)
from bench.studies.discovery.records import CSV_COLUMNS, collect, record_dir
from bench.studies.discovery.report import POSITION_NAMES, THESIS_LOSS_PCT, build_report
from bench.studies.discovery.run import noise_mask_params, parse_layers, prepare_discovery, run_discovery
from bench.studies.discovery.units import DiscoveryResult, DiscoverySpec, DiscoveryUnit, DiscoveryWorker

__all__ = [
    "CSV_COLUMNS",
    "OBSERVATIONS",
    "POSITION_NAMES",
    "THESIS_LOSS_PCT",
    "DiscoveryResult",
    "DiscoverySpec",
    "DiscoveryUnit",
    "DiscoveryWorker",
    "Observation",
    "Verdict",
    "build_report",
    "collect",
    "concentrates_on_subject",
    "loss_falls",
    "noise_mask_params",
    "parse_layers",
    "prepare_discovery",
    "record_dir",
    "resnet_keeps_more_background",
    "resnet_keeps_more_loss",
    "run_discovery",
    "spread_gathers",
]
