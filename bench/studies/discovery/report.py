"""The discovery's report.md: settings, the layers examined, a table per model, the thesis's
observations as measured (:mod:`bench.studies.discovery.observations`) and its own loss terms
for comparison."""

from __future__ import annotations

import pandas as pd

from bench.core.markdown import escape, table
from bench.datasets import credits_line
from bench.datasets.imagenet import class_name
from bench.studies.discovery.observations import OBSERVATIONS

POSITION_NAMES = {
    1: "last layer of the third-last module",
    2: "middle layer of the second-last module",
    3: "last layer of the second-last module",
    4: "second-last layer of the last module",
    5: "last layer of the last module",
    6: "logits (the layer before the softmax)",
}
THESIS_LOSS_PCT = {
    "brambling (Fig. 9)": {
        "VGG16": [30, 37, 35, 30, 15, 3],
        "Inception V1": [25, 40, 35, 25, 14, 6],
        "ResNet V1 50": [30, 40, 40, 30, 22, 8],
    },
    "volleyball (Fig. 11)": {
        "VGG16": [42, 43, 39, 27, 23, 3],
        "Inception V1": [55, 36, 31, 24, 20, 6],
        "ResNet V1 50": [55, 53, 42, 34, 29, 10],
    },
}
"""The loss term (%) per position in the thesis's Figures 9 and 11 (Figure 10 prints none)."""


def _settings_lines(run: dict) -> list[str]:
    nm = run["noise_mask"]
    return [
        "## Settings",
        "",
        f"- data: {run['data']}; images: {', '.join(run['image_ids'])}",
        f"- Noise Mask: preset {nm.get('preset')}, learning rate {nm.get('learning_rate')}, max iterations "
        f"{nm.get('max_iterations')}, window {nm.get('window')}, tolerance {nm.get('tolerance')}, init {nm.get('init')}, "
        f"seed {nm.get('seed')}, beta {'beta0' if nm.get('beta') is None else nm.get('beta')} "
        f"({nm.get('beta_draws')} draws), loss term on {nm.get('eval_draws')} fixed draws",
        f"- compute time of the records: {sum(run['timings_s'].values()):.0f} s in all",
        "- spread: the mask-weighted RMS distance of the pixels from the mask's centroid, as a fraction of the image "
        "side (0 = one pixel; 0.41 = a uniform mask); r: Pearson r (after a 2-px blur) to the same model's logit-layer "
        "mask of the image",
        "",
    ]


def _layers_lines(run: dict) -> list[str]:
    models = run["models"]
    rows = [[p, POSITION_NAMES[p], *(escape(i["layers"][p - 1]) for i in models.values())] for p in range(1, 7)]
    lines = ["## Layers", "", *table(["position", "what", *map(escape, models)], rows), ""]
    for name, model_info in models.items():
        lines.append(f"- {name}: {model_info['layer_rule']}; weights {model_info['weights']}")
        if model_info.get("modules"):
            lines.append(
                f"  - modules (split at down-sampling): {len(model_info['modules'])}; the last three: "
                + "; ".join(f"[{', '.join(m)}]" for m in model_info["modules"][-3:])
            )
    return lines


def _model_lines(run: dict, discovery: pd.DataFrame, name: str) -> list[str]:
    """One model's loss term / spread / r per layer (rows) and image (columns)."""
    part = discovery[discovery["model"] == name]
    ids = run["image_ids"]
    rows = []
    for p in range(1, 7):
        at = part[part["position"] == p].set_index("image_id")
        cells = [f"{at.loc[i, 'loss_term_pct']:.1f} / {at.loc[i, 'spread']:.3f} / {at.loc[i, 'r_to_logits']:.2f}" for i in ids]
        mean = f"{at['loss_term_pct'].mean():.1f} / {at['spread'].mean():.3f} / {at['r_to_logits'].mean():.2f}"
        rows.append([p, escape(at["layer"].iloc[0]), *cells, mean])
    return [
        f"### {name}",
        "",
        "Each cell: loss term % / spread / r to the logits' mask.",
        "",
        *table(["position", "layer", *map(escape, ids), "mean"], rows),
        "",
    ]


def _labels_lines(run: dict, targets: dict) -> list[str]:
    labels = run.get("labels") or [-1] * len(run["image_ids"])
    lines = ["Labels and each model's top-1 class:", ""]
    for k, image_id in enumerate(run["image_ids"]):
        label = class_name(labels[k]) if labels[k] >= 0 else "no label"
        tops = ", ".join(f"{m} {class_name(t[k])}" for m, t in targets.items())
        lines.append(f"- {image_id}: label {label}; top-1: {tops}")
    return [*lines, ""]


def _observation_lines(discovery: pd.DataFrame) -> list[str]:
    lines = ["## The thesis's observations, measured", ""]
    for k, obs in enumerate(OBSERVATIONS, start=1):
        lines += [f'{k}. Thesis: "{obs.thesis}"', f"   Test: {obs.definition}"]
        for verdict in obs.test(discovery):
            lines.append(f"   - {verdict.subject}: **{verdict.status}** ({verdict.evidence})")
        lines.append("")
    return lines


def _thesis_lines() -> list[str]:
    rows = [
        [image, model, *(f"{v}%" for v in values)]
        for image, per_model in THESIS_LOSS_PCT.items()
        for model, values in per_model.items()
    ]
    return [
        "## The thesis's loss terms for comparison (its Figures 9 and 11)",
        "",
        *table(["image", "model", *(f"pos {p}" for p in range(1, 7))], rows),
        "",
        "The thesis used TF-slim VGG16, Inception V1 and ResNet V1 50; Keras has no Inception V1 application.",
        "",
    ]


def build_report(run: dict, discovery: pd.DataFrame, targets: dict) -> str:
    """report.md from the manifest (discovery.json's content), the discovery table and each
    model's top-1 class per image."""
    lines = [
        "# Model discovery (thesis Section 4.3)",
        "",
        "Noise Mask applied to six layers of each network (F_l = the layer's output; beta0 per image and layer).",
        "",
        *_settings_lines(run),
        *_layers_lines(run),
        "",
        "## Per model: loss term %, spread and r by layer and image",
        "",
    ]
    for name in run["models"]:
        lines += _model_lines(run, discovery, name)
    lines += _labels_lines(run, targets)
    lines += _observation_lines(discovery)
    lines += _thesis_lines()
    lines += [
        "## Figures",
        "",
        "- `figures/masks_<image_id>.png`: the masks per model (rows) and layer (columns), loss term in each title",
        "- `figures/by_layer.png`: loss term, spread and r by layer position (mean over images; faint: per image)",
        "",
        credits_line(run["image_ids"], run["authors"], run["licenses"]),
        "",
    ]
    return "\n".join(lines)
