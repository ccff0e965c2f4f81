"""The choices of the model-parameter randomisation (:mod:`models.randomisation`), apart from it
(it needs TensorFlow), so the command line can offer and check them without loading it."""

from __future__ import annotations

GRANULARITIES = ("stage", "block", "layer")
"""What one step randomises: a stage of blocks, one block, or every weighted layer."""
RULES = ("shuffle", "reinit", "permute")
"""How a weight array is randomised: its entries shuffled, re-drawn from the layer's
initializer, or permuted along the first axis (Quantus 0.6.0's rule)."""
MODES = ("cascading", "independent")
"""Cascading: the top s groups randomised at step s; independent: group s alone."""
