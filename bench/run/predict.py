"""Top-k predictions and accuracy of a model on an image set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.datasets import ImageSet
from common.progress import progress
from models import Classifier, softmax


@dataclass
class Prediction:
    image_id: str
    top5: list[int]
    top5_logits: list[float]
    top1_prob: float
    label: int


def predict(model: Classifier, images: ImageSet, batch_size: int = 32) -> list[Prediction]:
    out = []
    for start in progress(range(0, len(images), batch_size), desc=f"predict {model.name}"):
        logits = model.logits(images.pixels[start : start + batch_size], batch_size)
        probs = softmax(logits)
        for j, row in enumerate(logits):
            top5 = np.argsort(-row, kind="stable")[:5]
            i = start + j
            out.append(
                Prediction(
                    images.ids[i],
                    top5.tolist(),
                    row[top5].astype(float).tolist(),
                    float(probs[j, top5[0]]),
                    int(images.labels[i]),
                )
            )
    return out


def accuracy(predictions: list[Prediction]) -> dict:
    """Top-1/top-5 accuracy over the images that have a label."""
    labelled = [p for p in predictions if p.label >= 0]
    n = len(labelled)
    return {
        "images": len(predictions),
        "labelled": n,
        "top1": sum(p.top5[0] == p.label for p in labelled) / n if n else None,
        "top5": sum(p.label in p.top5 for p in labelled) / n if n else None,
    }
