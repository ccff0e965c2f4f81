"""Cross-check: Quantus 0.6.0 PixelFlipping reproduces our MoRF / LeRF curves.

Quantus gets the evaluator's colour field through a custom ``perturb_func``, the ranking
as an attribution with distinct values, and whole pixels per step (see
``tests/quantus_support.py`` for the layout). Measured: the logits are bit-identical
(both end in the same Keras graph on identical float32 inputs); the probabilities
differ by < 1e-7 because Quantus's softmax is a float32 Keras layer and ours is float64.
"""

from __future__ import annotations

import numpy as np
import pytest

quantus = pytest.importorskip("quantus", reason="quantus (test extra: pip install quantus==0.6.0) is not importable")

import tensorflow as tf  # noqa: E402
from quantus_support import quantus_keras_model, quantus_pixel_flipping  # noqa: E402

from metrics import CurveEvaluator  # noqa: E402
from models import get_model  # noqa: E402
from models.keras_api import keras  # noqa: E402

if tf.keras.Model is not keras.Model:
    pytest.skip(
        "Quantus 0.6 wraps only tf.keras models, and on TensorFlow >= 2.16 tf.keras is Keras 3 while the suite's models "
        "are tf_keras ones; this cross-check runs on the TensorFlow 2.14 stack (tox -e py311-innvestigate), or here "
        "with TF_USE_LEGACY_KERAS=1",
        allow_module_level=True,
    )

K = 16  # 1024 / 16 = 64 steps, the whole 32x32 image (Quantus always runs to the end)


@pytest.fixture(scope="module")
def setup():
    model = get_model("tiny")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    relevance = rng.normal(size=(4, 32, 32)).astype(np.float32)
    relevance[:, :8, :8] = 0.0  # a block of ties: resolved by our seeded permutation for both
    ev = CurveEvaluator(model, images, None, pixels_per_step=K, steps=32 * 32 // K, seed=[5, 6, 7, 8], batch_size=32)
    return ev, relevance, quantus_keras_model(model)


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_quantus_pixel_flipping_logits_bit_identical(setup, order):
    ev, relevance, qmodel = setup
    ours = ev.curves(relevance, order)
    q = quantus_pixel_flipping(ev, relevance, order, softmax=False, keras_model=qmodel)
    assert q.shape == (4, ev.steps)
    np.testing.assert_array_equal(q, ours.logits[:, 1:].astype(np.float64))
    # the curves are not trivially flat
    assert np.ptp(ours.logits, axis=1).min() > 0


def test_quantus_pixel_flipping_probabilities(setup):
    ev, relevance, qmodel = setup
    ours = ev.curves(relevance, "morf")
    q = quantus_pixel_flipping(ev, relevance, "morf", softmax=True, keras_model=qmodel)
    np.testing.assert_allclose(q, ours.probs[:, 1:], rtol=0, atol=1e-6)
