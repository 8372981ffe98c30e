"""Evaluation images with dense ground truth, read from the mmseg layouts in ``catalog.py``.

Images are returned at their ORIGINAL size, uint8, one per batch (sizes differ); the inference
path resizes them and brings the scores back, and the ground truth is never resized.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ovseg.data.catalog import DatasetSpec, default_data_root, get_dataset_spec
from ovseg.data.eval_sampler import eval_sampler
from ovseg.errors import OvsegUserError
from ovseg.evaluation.metrics import reduce_zero_label


class MissingDatasetError(OvsegUserError, FileNotFoundError):
    """A dataset is not where it was expected; the message names the layout and the fix."""


def _missing(spec: DatasetSpec, root: Path, split: str, what: str) -> MissingDatasetError:
    return MissingDatasetError(
        f"Dataset '{spec.name}': {what}.\n"
        f"Expected layout under the data root '{root}':\n{spec.layout(split)}\n"
        f"To prepare it: {spec.how_to_prepare.replace('<root>', str(root))}\n"
        f"Point --data-root (or OVSEG_DATA_ROOT) at the folder that holds '{spec.base_dir}'."
    )


def find_pairs(spec: DatasetSpec, root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """(image, label) paths of one split, sorted by name; raises MissingDatasetError if absent."""
    root = Path(root)
    disk_split = spec.val_split if split == "val" else split
    base = root / spec.base_dir
    image_dir = base / spec.image_dir.format(split=disk_split)
    label_dir = base / spec.label_dir.format(split=disk_split)
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise _missing(spec, root, split, f"folder '{folder}' does not exist")
    if spec.split_file is not None:
        split_path = base / spec.split_file.format(split=disk_split)
        if not split_path.is_file():
            raise _missing(spec, root, split, f"split file '{split_path}' does not exist")
        ids = [line.strip() for line in split_path.read_text().splitlines() if line.strip()]
        pairs = [(image_dir / f"{i}{spec.image_suffix}", label_dir / f"{i}{spec.label_suffix}") for i in ids]
    else:
        labels = sorted(label_dir.rglob(f"*{spec.label_suffix}"))
        pairs = [
            (
                image_dir
                / label.relative_to(label_dir).parent
                / (label.name[: -len(spec.label_suffix)] + spec.image_suffix),
                label,
            )
            for label in labels
        ]
    if not pairs:
        raise _missing(spec, root, split, f"no '*{spec.label_suffix}' labels in '{label_dir}'")
    for image, label in pairs:
        if not image.is_file() or not label.is_file():
            raise _missing(spec, root, split, f"'{image if not image.is_file() else label}' is missing")
    return pairs


class SegmentationDataset(Dataset):
    """One benchmark split: ``{"image": (3, H, W) uint8, "label": (H, W) int64, "name": str}``."""

    def __init__(self, spec: DatasetSpec, pairs: list[tuple[Path, Path]]) -> None:
        self.spec = spec
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        image_path, label_path = self.pairs[index]
        with Image.open(image_path) as image:
            rgb = np.asarray(image.convert("RGB"))  # (H, W, 3)
        with Image.open(label_path) as label_image:
            label = torch.from_numpy(np.asarray(label_image, dtype=np.int64).copy())  # (H, W)
        if label.shape != rgb.shape[:2]:
            raise ValueError(
                f"Label '{label_path}' is {tuple(label.shape)} but image '{image_path}' is "
                f"{rgb.shape[:2]}; the dataset is corrupt — re-extract or re-prepare it."
            )
        if self.spec.reduce_zero_label:
            label = reduce_zero_label(label)
        image_tensor = torch.from_numpy(rgb.copy()).permute(2, 0, 1)  # (3, H, W)
        return {"image": image_tensor, "label": label, "name": image_path.stem}


def collate_eval(samples: list[dict]) -> dict:
    """Batch of equally sized evaluation samples (the loaders use batch size 1)."""
    return {
        "image": torch.stack([s["image"] for s in samples]),  # (B, 3, H, W)
        "label": torch.stack([s["label"] for s in samples]),  # (B, H, W)
        "name": [s["name"] for s in samples],
    }


def synthetic_stream(split: str) -> str:
    """The synthetic benchmark's stream for a data-module split: "val" (the evaluation split) → "eval",
    "tune" → "tune"; another split is an error naming the valid ones."""
    streams = {"val": "eval", "eval": "eval", "tune": "tune"}
    if split not in streams:
        raise OvsegUserError(
            f"the synthetic benchmark has no split '{split}': use 'val' (the evaluation images, for "
            "reporting) or 'tune' (a stream of its own to choose recipes on)."
        )
    return streams[split]


class SegDataModule(L.LightningDataModule):
    """Evaluation data for ``ovseg validate|test`` on one benchmark.

    Args:
        dataset: benchmark name (synthetic, voc, voc20, context, context59, coco, coco-stuff, ade20k,
            cityscapes).
        data_root: data root that holds the benchmark's folder (see ``ovseg.data.catalog``); default: the
            ``OVSEG_DATA_ROOT`` environment variable, else ``data``.
        split: split to evaluate ("val" is each benchmark's evaluation split; the synthetic benchmark
            also has "tune", a stream of its own to choose recipes on).
        num_workers: dataloader worker processes.
        limit: evaluate only the first ``limit`` images (None: all; the synthetic benchmark has 256).
        image_size: size the synthetic benchmark is rendered at (ignored by real benchmarks).
        seed: seed of the synthetic benchmark's evaluation stream (ignored by real benchmarks).
    """

    def __init__(
        self,
        dataset: str = "voc",
        data_root: str | None = None,
        split: str = "val",
        num_workers: int = 2,
        limit: int | None = None,
        image_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.spec = get_dataset_spec(dataset)
        self.data_root = default_data_root(data_root)
        self.split = split
        if self.spec.generated:
            synthetic_stream(split)  # a split the benchmark does not have fails here, before any model
        self.num_workers = num_workers
        self.limit = limit
        self.image_size = image_size
        self.seed = seed
        self._dataset: Dataset | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    def check_data(self) -> None:
        """Find every file now; a missing dataset raises MissingDatasetError naming the layout."""
        if self._dataset is not None:
            return
        if self.spec.generated:
            from ovseg.data.synthetic import SyntheticSegDataset

            length = self.limit or self.spec.num_images
            stream = synthetic_stream(self.split)
            self._dataset = SyntheticSegDataset(length, self.image_size, self.seed, stream)
            return
        pairs = find_pairs(self.spec, self.data_root, self.split)
        self._dataset = SegmentationDataset(self.spec, pairs[: self.limit] if self.limit else pairs)

    def setup(self, stage: str | None = None) -> None:
        self.check_data()

    def _loader(self) -> DataLoader:
        self.check_data()
        return DataLoader(
            self._dataset,
            batch_size=1,
            sampler=eval_sampler(self._dataset),  # under DDP: each image on one process, none repeated
            num_workers=self.num_workers,
            collate_fn=collate_eval,
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader()

    def test_dataloader(self) -> DataLoader:
        return self._loader()

    def predict_dataloader(self) -> DataLoader:
        return self._loader()
