"""The model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

Does a map depend on the model at all? ``python -m bench sanity --model M --methods a,b --out DIR``
explains the images with the original model (step 0), then with copies whose weights are
randomised group by group from the top (:mod:`models.randomisation`: the logits first, then
the head, the blocks and the stem; cascading, and optionally each group alone), always for
the original model's top-1 class, and compares every map with the original one by Spearman
rank correlation and SSIM (:mod:`metrics.similarity`, as Quantus's MPRT). A method that
explains the model falls to about 0 once the weights are random; one that gives nearly the
same map fails the test. Written to ``DIR``:

* ``randomisation.csv`` (cascading; :data:`CSV_COLUMNS`, step 0 = the original model, whose
  similarity is 1) and ``randomisation-independent.csv`` (``--mode independent`` or ``both``);
* ``sanity.json``: settings, model and weights, image ids, methods and parameters, seeds, the
  groups, per step the randomised model's top-1 agreement with the original, per-method
  summary and compute time, wall time, versions;
* ``report.md`` (summary, per-step table, figures, cost); ``figures/randomisation.png`` (mean
  similarity per step, band = min..max over images) and ``figures/maps_<image_id>.png`` (the
  first image's maps at every step);
* ``records/`` and ``maps/``: one record per (mode, method, step), written atomically; a rerun
  with the same settings skips what is done.

The modules: :mod:`.run` (the resumable driver), :mod:`.units` (the passes as units of work,
computed by the local or the Ray executor), :mod:`.records` (the folder's records),
:mod:`.summary` (tables, statistics, verdicts), :mod:`.report` (report.md and the run report's
section, :func:`report_section`), :mod:`.figures`.
"""

from bench.studies.sanity.report import build_report, report_section
from bench.studies.sanity.run import SanitySettings, prepare_sanity, run_sanity, sanity_params
from bench.studies.sanity.summary import (
    CSV_COLUMNS,
    CSV_NAMES,
    NEAR_ZERO,
    SANITY_FOLDER,
    STAYS_SIMILAR,
    SUMMARY_METRICS,
    final_values,
    randomisation_table,
    read_table,
)
from bench.studies.sanity.units import (
    SANITY_DEFAULTS,
    SanitySpec,
    SanityUnit,
    SanityWorker,
    StepResult,
    run_randomisation,
)

__all__ = [
    "CSV_COLUMNS",
    "CSV_NAMES",
    "NEAR_ZERO",
    "SANITY_DEFAULTS",
    "SANITY_FOLDER",
    "STAYS_SIMILAR",
    "SUMMARY_METRICS",
    "SanitySettings",
    "SanitySpec",
    "SanityUnit",
    "SanityWorker",
    "StepResult",
    "build_report",
    "final_values",
    "prepare_sanity",
    "randomisation_table",
    "read_table",
    "report_section",
    "run_randomisation",
    "run_sanity",
    "sanity_params",
]
