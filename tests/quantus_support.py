"""Cross-check of :mod:`metrics.perturbation` against Quantus's ``PixelFlipping``.

Quantus (``pip install quantus==0.6.0``, a test-only dependency) is imported lazily.
How our MoRF/LeRF curve maps onto Quantus 0.6.0's PixelFlipping:

* PixelFlipping flattens each (channel-first) input and replaces ``features_in_step``
  features per step, in the order of ``argsort(-a)``. To replace whole pixels (all three
  channels) we give it each image as one channel of shape (1, H, 3W), which flattens to
  the channel-last layout ``3 * pixel + channel``; the model starts with a Reshape back
  to (H, W, 3). (With the ordinary (N, 3, H, W) layout Quantus's own argument check,
  ``assert_features_in_step``, demands that ``features_in_step = 3k`` divide H*W, which
  no power-of-two, 224x224 or 299x299 image allows; here it demands that k divide H*W.)
* The attribution is ``-(3 * position_in_our_ranking + channel)``: distinct values, so
  its descending order is exactly our ranking, each pixel's channels together, and
  ``features_in_step = 3 * k``.
* A custom ``perturb_func`` writes the evaluator's colour field at those indices (all
  images form one Quantus batch, so its rows are our images).
* The model: ``Input(1, H, 3W) -> Reshape(H, W, 3) -> preprocess -> keras_model ->
  linear Activation``; the linear top lets Quantus return logits (``softmax=False``)
  or add its own Softmax layer (``softmax=True``).
* Quantus has no step 0 and runs ``H*W / k`` steps (the whole image); its column
  ``t-1`` is our step ``t``.
"""

from __future__ import annotations

import numpy as np

from metrics.perturbation import CurveEvaluator
from models import ModelWrapper
from models.keras_api import keras


def quantus_keras_model(model: ModelWrapper) -> keras.Model:
    """Keras model from float pixels laid out as (1, H, 3W) to logits, linear last layer."""
    h, w = model.input_size
    inp = keras.Input((1, h, 3 * w), name="pixels_flat")
    x = keras.layers.Reshape((h, w, 3), name="to_hwc")(inp)
    x = keras.layers.Lambda(model.preprocess, name="preprocess")(x)
    x = model.keras_model(x)
    out = keras.layers.Activation("linear", name="logits_out")(x)
    return keras.Model(inp, out, name=f"{model.name}_quantus")


def quantus_ranking_attribution(ranking: np.ndarray, h: int, w: int) -> np.ndarray:
    """(N, 1, H, 3W) attributions whose flattened descending order is ``ranking``, channels together."""
    n = ranking.shape[0]
    pos = np.empty((n, h * w), np.float64)
    pos[np.arange(n)[:, None], ranking] = np.arange(h * w, dtype=np.float64)[None, :]
    a = -(3.0 * pos[:, :, None] + np.arange(3, dtype=np.float64)[None, None, :])  # (N, HW, 3)
    return a.reshape(n, 1, h, 3 * w)


def quantus_pixel_flipping(
    evaluator: CurveEvaluator,
    relevance: np.ndarray | None,
    order: str = "morf",
    softmax: bool = False,
    keras_model: keras.Model | None = None,
    predict_batch_size: int | None = None,
) -> np.ndarray:
    """Quantus PixelFlipping curves (N, H*W / k) for the evaluator's images, seeds and targets.

    ``keras_model``: a prebuilt :func:`quantus_keras_model` (to time Quantus without the build).
    """
    import quantus

    images = evaluator.images
    n, h, w, _ = images.shape
    k = evaluator.pixels_per_step
    if (h * w) % k:
        raise ValueError(f"Quantus PixelFlipping needs pixels_per_step to divide H*W = {h * w}; got {k}")
    a_batch = quantus_ranking_attribution(evaluator.ranking(relevance, order), h, w)
    fields = np.stack([evaluator.colour_field(i) for i in range(n)]).reshape(n, -1)  # (N, 3HW), channel-last
    x_batch = images.astype(np.float32).reshape(n, 1, h, 3 * w)

    def perturb_with_field(arr: np.ndarray, indices: np.ndarray, **kwargs) -> np.ndarray:
        assert arr.shape == fields.shape, "one Quantus batch must hold all images"
        out = arr.copy()
        rows = np.arange(arr.shape[0])[:, None]
        out[rows, indices] = fields[rows, indices]
        return out

    metric = quantus.PixelFlipping(
        features_in_step=3 * k,
        abs=False,
        normalise=False,
        perturb_func=perturb_with_field,
        disable_warnings=True,
        display_progressbar=False,
    )
    scores = metric(
        model=keras_model if keras_model is not None else quantus_keras_model(evaluator.model),
        x_batch=x_batch,
        y_batch=evaluator.targets,
        a_batch=a_batch,
        channel_first=True,
        softmax=softmax,
        batch_size=n,
        model_predict_kwargs={"batch_size": predict_batch_size or evaluator.batch_size},
    )
    return np.asarray(scores, dtype=np.float64)
