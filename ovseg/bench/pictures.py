"""The report's pictures from the methods' runs: predictions grid, per-class IoU, training losses."""

from __future__ import annotations

from pathlib import Path

from ovseg.bench.figures import iou_bar_chart, loss_curves, prediction_grid
from ovseg.bench.predictions import load_predictions


def draw_pictures(
    folder: Path,
    datasets: list[str],
    entries: dict[str, dict],
    prediction_files: dict[str, Path],
    loss_points: dict[str, list] | None,
) -> dict[str, str]:
    """Write the pictures into ``folder``; returns picture kind → file name.

    Args:
        datasets: in report order; the grid shows the first one's first images.
        entries: method name → report entry (see ``ovseg.bench.results``).
        prediction_files: method name → its ``predictions.npz`` (all of the same images).
        loss_points: method name → [(step, loss)], or None without training (real mode).
    """
    kept = {method: load_predictions(path) for method, path in prediction_files.items()}
    first = next(iter(kept.values()))
    label_names = next(iter(entries.values()))["results"][datasets[0]]["label_names"]
    paths = {
        "predictions": prediction_grid(
            first["image"],
            first["label"],
            {method: saved["prediction"] for method, saved in kept.items()},
            label_names,
            folder / "predictions.png",
        )
    }
    for dataset in datasets:
        names = next(iter(entries.values()))["results"][dataset]["label_names"]
        ious = {method: entry["results"][dataset]["IoU"] for method, entry in entries.items()}
        path = folder / f"per_class_iou_{dataset}.png"
        paths[f"per_class_iou_{dataset}"] = iou_bar_chart(
            names, ious, path, title=f"per-class IoU · {dataset}"
        )
    if loss_points is not None:
        paths["training_loss"] = loss_curves(loss_points, folder / "training_loss.png")
    return {kind: path.name for kind, path in paths.items()}
