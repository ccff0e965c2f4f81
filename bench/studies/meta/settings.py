"""The perturbation test's defaults, in a module that imports nothing (the command line offers
them without loading pandas); :mod:`bench.studies.meta.perturb` says what they mean."""

CHEAP_METHODS = ("sensitivity", "elrp", "deeplift", "intgrad")
"""Methods explained under each perturbed model (gradient-based: about a second per image)."""
NOISE_STD = 0.001
"""The minor perturbation: weights times 1 + N(0, NOISE_STD) (MetaQuantus's Model Resilience Test)."""
IMAGES = 6
"""Images explained under each perturbed model."""
META_FOLDER = "meta"
"""Where a run keeps its meta-evaluation (``bench meta RUN_DIR --out RUN_DIR/meta``): the run
report and ``bench reference`` read it from there."""
META_CSV = "meta.csv"
