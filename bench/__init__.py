"""Noise Mask benchmark suite, the application: command line, runs, results store, report,
and the data layer (datasets). data -> model -> method -> relevance map -> metric ->
results -> report; the model, method and metric layers are the packages ``models``,
``methods`` and ``metrics``.
"""

__version__ = "0.1.0"
