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
    """One row per image: the image, its ground truth, then each method's prediction; a colour legend.

    Args:
        images: (H, W, 3) uint8 images.
        ground_truth: (H, W) label maps (255 ignore).
        predictions: method name → (H, W) predicted label maps, one per image.
        label_names: the name of every label id.
        path: PNG to write.
    """
    columns = ["image", "ground truth", *predictions]
    rows = len(images)
    figure, axes = plt.subplots(
        rows, len(columns), figsize=(1.8 * len(columns), 1.8 * rows + 0.9), squeeze=False
    )
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
    palette = voc_palette()
    legend = [Patch(color=palette[i] / 255.0, label=name) for i, name in enumerate(label_names)]
    legend.append(Patch(facecolor="white", edgecolor="grey", label="ignore"))
    figure.legend(handles=legend, loc="lower center", ncol=min(len(legend), 6), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.9 / (1.8 * rows + 0.9), 1, 1))
    return _save(figure, path)


def iou_bar_chart(
    label_names: Sequence[str], ious: dict[str, Sequence[float | None]], path: str | Path
) -> Path:
    """Grouped bars: per-class IoU (percent) of every method."""
    figure, axis = plt.subplots(figsize=(max(6.0, 0.7 * len(label_names) * len(ious)), 3.5))
    width = 0.8 / max(len(ious), 1)
    positions = np.arange(len(label_names))
    for index, (method, values) in enumerate(ious.items()):
        heights = [np.nan if value is None else value for value in values]
        axis.bar(positions + (index - (len(ious) - 1) / 2) * width, heights, width, label=method)
    axis.set_xticks(positions, label_names, rotation=30, ha="right", fontsize=8)
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
