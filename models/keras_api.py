"""The Keras 2 API the suite is written against, whichever TensorFlow is installed.

TensorFlow 2.14 and 2.15 bundle Keras 2 as ``tf.keras``. From 2.16 on, ``tf.keras`` is
Keras 3 and Keras 2 lives in the ``tf_keras`` package (the ``tf-keras`` release that matches
the TensorFlow version). Every model, layer and optimizer of the suite comes from
:data:`keras` below, so the same code runs on both stacks; iNNvestigate (TF < 2.15 only)
sees the ``tf.keras`` it expects.
"""

from __future__ import annotations

import tensorflow as tf

TF_VERSION = tuple(int(part) for part in tf.__version__.split(".")[:2])
LEGACY_PACKAGE = TF_VERSION >= (2, 16)
"""True where Keras 2 is the separate ``tf_keras`` package."""

if LEGACY_PACKAGE:
    import tf_keras as keras
else:
    keras = tf.keras

__all__ = ["LEGACY_PACKAGE", "TF_VERSION", "keras"]
