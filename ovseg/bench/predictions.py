"""The evaluation images a method's run keeps for the picture: image, ground truth, predicted labels.

Real benchmarks have images of different sizes, so each image is stored under its own index in
``predictions.npz`` (``image_0``, ``label_0``, ``prediction_0``, ``image_1``, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

KINDS = ("image", "label", "prediction")


@torch.no_grad()
def first_predictions(model, datamodule, count: int) -> dict[str, list[np.ndarray]]:
    """Images (H, W, 3) uint8, ground truth (H, W) and predicted label maps (H, W) of the first
    ``count`` images of ``datamodule``'s test split, predicted under the model's protocol."""
    model.eval()
    kept: dict[str, list[np.ndarray]] = {kind: [] for kind in KINDS}
    for batch in datamodule.test_dataloader():
        if len(kept["image"]) >= count:
            break
        image, label = batch["image"].to(model.device), batch["label"]  # (1, 3, H, W), (1, H, W)
        prediction = model.predict_labels(model.normalize(image), tuple(label.shape[-2:]))  # (1, H, W)
        kept["image"].append(batch["image"][0].permute(1, 2, 0).numpy())  # (H, W, 3)
        kept["label"].append(label[0].numpy())
        kept["prediction"].append(prediction[0].cpu().numpy())
    return kept


def save_predictions(path: Path, kept: dict[str, list[np.ndarray]]) -> Path:
    """Write ``kept`` to ``path`` (an .npz) through a temporary file and a rename."""
    arrays = {f"{kind}_{index}": array for kind in KINDS for index, array in enumerate(kept[kind])}
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def load_predictions(path: Path) -> dict[str, list[np.ndarray]]:
    """The lists written by ``save_predictions``, in image order."""
    with np.load(path) as saved:
        count = sum(1 for key in saved.files if key.startswith("image_"))
        return {kind: [saved[f"{kind}_{index}"] for index in range(count)] for kind in KINDS}
