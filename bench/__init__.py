"""Noise Mask benchmark suite: data -> model -> method -> relevance map -> metric -> results -> report."""
__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) hides real messages.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
