"""How much work a run may start: the suite refuses, before anything runs, settings that would
take days or allocate for a cap no one meant (each count's own bound is beside the setting:
:data:`bench.run.profile.METRIC_SETTINGS`, the methods' ``Param(high=...)``)."""

from __future__ import annotations

DEFAULT_MAX_HOURS = 48.0
"""A run whose estimate on this machine exceeds this many hours is refused before it starts,
unless the caller raises the limit (``bench run --max-hours``): a mistyped setting should not
silently start days of work. The thesis's own protocol on a GPU takes a few hours."""
