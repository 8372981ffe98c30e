"""The report's pictures: predictions beside the ground truth, per-class IoU, training losses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from ovseg.data.palette import voc_palette

IGNORE_COLOUR = (255, 255, 255)
MAX_CHART_INCHES = 24.0
LEGEND_COLUMNS = 6
TITLE_INCHES = 0.25  # room above the column titles


def colour_labels(label: np.ndarray) -> np.ndarray:
    """(H, W) label ids → (H, W, 3) uint8 in VOC colours, ignore (255) white."""
    palette = voc_palette()
    coloured = palette[np.clip(label, 0, 255)]  # (H, W, 3)
    coloured[label == 255] = IGNORE_COLOUR
    return coloured


def prediction_grid(
    images: Sequence[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    predictions: dict[str, Sequence[np.ndarray]],
    label_names: Sequence[str],
    path: str | Path,
) -> Path:
    """One row per image: the image, its ground truth, then each method's prediction; a legend of
    the colours of every label that appears in the panels.

    Args:
        images: (H, W, 3) uint8 images (sizes may differ between rows).
        ground_truth: (H, W) label maps (255 ignore).
        predictions: method name → (H, W) predicted label maps, one per image.
        label_names: the name of every label id.
        path: PNG to write.
    """
    columns = ["image", "ground truth", *predictions]
    rows = len(images)
    shown = [*ground_truth, *[maps[row] for maps in predictions.values() for row in range(rows)]]
    present = sorted({int(v) for label in shown for v in np.unique(label)})
    legend = _legend(present, label_names)
    legend_rows = -(-len(legend) // LEGEND_COLUMNS)
    legend_inches = 0.25 * legend_rows + 0.2
    height = 1.8 * rows + legend_inches + TITLE_INCHES
    figure, axes = plt.subplots(rows, len(columns), figsize=(1.8 * len(columns), height), squeeze=False)
    for row in range(rows):
        panels = [images[row], colour_labels(ground_truth[row])]
        panels += [colour_labels(maps[row]) for maps in predictions.values()]
        for column, panel in enumerate(panels):
            axis = axes[row][column]
            axis.imshow(panel, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(columns[column], fontsize=9)
    figure.legend(handles=legend, loc="lower center", ncol=LEGEND_COLUMNS, fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, legend_inches / height, 1, 1 - TITLE_INCHES / height))
    return _save(figure, path)


def _legend(label_ids: Sequence[int], label_names: Sequence[str]) -> list[Patch]:
    """A colour patch per label id (255: ignore, white)."""
    palette = voc_palette()
    patches = []
    for label in label_ids:
        if label == 255:
            patches.append(Patch(facecolor="white", edgecolor="grey", label="ignore"))
        else:
            name = label_names[label] if label < len(label_names) else f"label {label}"
            patches.append(Patch(color=palette[label] / 255.0, label=name))
    return patches


def iou_bar_chart(
    label_names: Sequence[str],
    ious: dict[str, Sequence[float | None]],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Grouped bars: per-class IoU (percent) of every method; ``title`` names the dataset."""
    bars = len(label_names) * max(len(ious), 1)
    width_inches = min(max(6.0, 0.35 * bars), MAX_CHART_INCHES)  # 81 COCO classes stay readable
    figure, axis = plt.subplots(figsize=(width_inches, 3.8))
    width = 0.8 / max(len(ious), 1)
    positions = np.arange(len(label_names))
    for index, (method, values) in enumerate(ious.items()):
        heights = [np.nan if value is None else value for value in values]
        axis.bar(positions + (index - (len(ious) - 1) / 2) * width, heights, width, label=method)
    rotation, fontsize = (30, 8) if len(label_names) <= 25 else (90, 6)
    axis.set_xticks(positions, label_names, rotation=rotation, ha="right" if rotation < 90 else "center")
    axis.tick_params(axis="x", labelsize=fontsize)
    axis.set_xlim(-0.6, len(label_names) - 0.4)
    if title:
        axis.set_title(title, fontsize=10)
    axis.set_ylabel("IoU (%)")
    axis.set_ylim(0, 100)
    axis.legend(fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def loss_curves(curves: dict[str, Sequence[tuple[int, float]]], path: str | Path) -> Path:
    """Training loss against optimisation step, one line per method."""
    figure, axis = plt.subplots(figsize=(6.0, 3.5))
    for method, points in curves.items():
        if points:
            steps, losses = zip(*points, strict=True)
            axis.plot(steps, losses, label=method)
    axis.set_xlabel("step")
    axis.set_ylabel("training loss")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
