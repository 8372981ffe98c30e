"""The report's diagnostic tables: what the trained models can and cannot do, beside the main mIoU.

- Confidence ceiling: per method, the highest probability any region feature can get for each
  class at its learned temperature (``ovseg.evaluation.confidence_ceiling``).
- Naming without background: per method, the mIoU over the foreground classes with the
  background pixels ignored and no threshold (``ovseg.bench.naming``).
"""

from __future__ import annotations

import math

from ovseg.bench.cells import cell
from ovseg.evaluation.confidence_ceiling import classes_reaching

CEILING_HEADER = [
    "method",
    "dataset",
    "logit scale",
    "class cosine mean / max",
    "ceiling min–max",
    "classes reaching it",
]
CEILING_NOTE = (
    "Confidence ceiling: the highest probability any region feature can get for class c, at the "
    "method's learned temperature, given how close c's text embedding lies to the other classes'. "
    "It bounds the top-k product's affinity too. A class whose ceiling is below the background "
    "threshold can never be labelled under the plain threshold rule, however good the features are; "
    "under GroupViT's window rule only where its region is the window's most confident one."
)


def ceiling_rows(report: dict) -> list[list[str]]:
    """One row per method that classifies by a softmax over class similarities, and dataset."""
    rows = []
    for name, method in report["methods"].items():
        for dataset, ceiling in (method.get("ceilings") or {}).items():
            if ceiling:
                rows.append([name, dataset, *_ceiling_cells(ceiling)])
    return rows


def _ceiling_cells(ceiling: dict) -> list[str]:
    values = list(ceiling["per_class"].values())
    threshold = ceiling.get("bg_threshold")
    reaching = "—"
    if threshold is not None:
        reaching = f"{len(classes_reaching(ceiling, threshold))} of {len(values)} (≥ {threshold})"
    return [
        cell(ceiling["logit_scale"], 1),
        f"{cell(ceiling['mean_cosine'])} / {cell(ceiling['max_cosine'])}",
        f"{min(values):.2f}–{max(values):.2f}",
        reaching,
    ]


NAMING_HEADER = [
    "method",
    "mIoU, background ignored",
    "chance: uniform",
    "best class",
    "worst class",
    "recognition AUC",
    "background IoU",
    "background as object %",
]
NAMING_NOTE = (
    "Naming without background: pixels whose ground truth is background are ignored and every other "
    "pixel takes its best class, with no threshold, as VOC20 and Context59 are scored. It measures how "
    "well a method names the objects, apart from telling them from the background; the main mIoU needs both. "
    "Recognition AUC: how well the method's image-level class scores tell the evaluation images that hold "
    "a class from those that do not, averaged over the classes (0.50: chance; — for a method without an "
    "image-level classifier). Background IoU and the share of background pixels labelled as an object "
    "come from the main mIoU's confusion matrix: a method that paints the background with classes has a "
    "high share; one that calls everything background has a share near 0 and no class IoU."
)


def naming_rows(report: dict) -> list[list[str]]:
    """One row per method scored without background (synthetic mode, a split with background)."""
    rows = []
    for name, method in report["methods"].items():
        naming = method.get("naming")
        if not naming:
            continue
        pairs = zip(naming["IoU"], naming["class_names"], strict=True)
        scored = [(iou, label) for iou, label in pairs if not math.isnan(iou)]  # NaN: absent from the split
        best, worst = max(scored), min(scored)
        background_iou, background_as_object = _background_figures(method["results"][report["datasets"][0]])
        rows.append(
            [
                name,
                cell(naming["mIoU"]),
                cell(naming["uniform_chance"]),
                f"{best[1]} {cell(best[0], 1)}",
                f"{worst[1]} {cell(worst[0], 1)}",
                cell(naming.get("recognition_auc")),
                cell(background_iou),
                cell(background_as_object),
            ]
        )
    return rows


def _background_figures(result: dict) -> tuple[float | None, float | None]:
    """(background IoU, % of background pixels labelled as an object) of a result with background."""
    if result["label_names"][0] != "background":
        return None, None
    accuracy = result.get("Acc")  # None in reports written before it was recorded
    return result["IoU"][0], None if accuracy is None else 100.0 - accuracy[0]
