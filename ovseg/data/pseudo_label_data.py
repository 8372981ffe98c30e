"""The data module S-Seg+'s ``SelfTrain`` fits with: images + an ``ovseg pseudo-label`` folder.

Training batches are dicts::

    image  uint8 (B, 3, S, S)   random rescale / crop / flip of the image (``seg_augment``)
    label  int64 (B, S, S)      its pseudo-labels, 255 where the crop was padded
    name   list[str]

The folder's manifest says which benchmark the labels belong to; each image is read by its name
(real benchmarks: ``<root>/<base_dir>/<image_dir>/<name><suffix>`` of the labelled split; synthetic:
training scene ``index`` re-rendered from ``synthetic-{seed}-{index:08d}``). Validation and test use
that benchmark's evaluation split with its ground truth (``SegDataModule``), and its classes are
the ones the model learns.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ovseg.data.catalog import DatasetSpec, default_data_root, get_dataset_spec
from ovseg.data.seg_augment import RandomScaleCropFlip
from ovseg.data.segmentation import SegDataModule
from ovseg.data.unlabeled import image_folder, read_rgb, render_synthetic_image, synthetic_index
from ovseg.errors import OvsegUserError
from ovseg.pseudo_label.files import IGNORE_INDEX, label_names_in, label_path, read_label_png, read_manifest


class PseudoLabelTrainSet(Dataset):
    """(image, pseudo-label) training pairs of one folder: ``{"image", "label", "name"}``."""

    def __init__(
        self,
        folder: Path,
        names: list[str],
        spec: DatasetSpec,
        transform: RandomScaleCropFlip,
        image_dir: Path | None,
        synthetic: tuple[int, int] | None,
    ) -> None:
        self.folder = Path(folder)
        self.names = names
        self.num_labels = spec.num_classes
        self.suffix = spec.image_suffix
        self.transform = transform
        self.image_dir = image_dir
        self.synthetic = synthetic  # (seed, image_size) of synthetic scenes

    def __len__(self) -> int:
        return len(self.names)

    def read_image(self, name: str) -> torch.Tensor:
        """uint8 (3, H, W) of the image called ``name``."""
        if self.synthetic is not None:
            seed, size = self.synthetic
            return render_synthetic_image(seed, synthetic_index(name), size)
        return read_rgb(self.image_dir / f"{name}{self.suffix}")

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        image = self.read_image(name).permute(1, 2, 0).numpy()  # (H, W, 3)
        labels = read_label_png(label_path(self.folder, name))  # (H, W)
        valid = labels[labels != IGNORE_INDEX]
        if valid.size and int(valid.max()) >= self.num_labels:
            raise OvsegUserError(
                f"'{label_path(self.folder, name)}' holds label {int(valid.max())}, but its benchmark has "
                f"{self.num_labels} labels: the folder is not this benchmark's pseudo-labels."
            )
        image_tensor, label_tensor = self.transform(image, labels)  # (3, S, S), (S, S)
        return {"image": image_tensor, "label": label_tensor, "name": name}


class PseudoLabelDataModule(L.LightningDataModule):
    """Pseudo-labelled training images for ``fit`` (``SelfTrain``) and their benchmark for evaluation.

    Args:
        pseudo_labels: a folder written by ``ovseg pseudo-label`` (required).
        image_size: training crop side S.
        scale_range: random rescale ratios (of ``base_size``).
        base_size: short side before the ratio (default: S).
        flip: random horizontal flips.
        batch_size: images per batch (per process).
        num_workers: dataloader workers.
        data_root: folder holding the benchmark (default: the one the labels were made from).
        val_split: the benchmark's evaluation split.
        val_limit: evaluate only the first images.
        seed: shuffle seed (and the synthetic benchmark's evaluation stream).
    """

    def __init__(
        self,
        pseudo_labels: str | None = None,
        image_size: int = 512,
        scale_range: tuple[float, float] = (0.5, 2.0),
        base_size: int | None = None,
        flip: bool = True,
        batch_size: int = 16,
        num_workers: int = 2,
        data_root: str | None = None,
        val_split: str = "val",
        val_limit: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if pseudo_labels is None:
            raise OvsegUserError(
                "SelfTrain trains on pseudo-labels: pass --data.pseudo_labels DIR, a folder made by "
                "ovseg pseudo-label --ckpt CKPT --data NAME --out DIR."
            )
        if batch_size < 1:
            raise OvsegUserError(f"batch_size must be at least 1, got {batch_size}.")
        self.folder = Path(pseudo_labels)
        self.manifest = read_manifest(self.folder)
        self.dataset_spec = get_dataset_spec(self.manifest["dataset"])
        self.transform = RandomScaleCropFlip(image_size, tuple(scale_range), base_size, IGNORE_INDEX, flip)
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.data_root = data_root if data_root is not None else self.manifest.get("data_root")
        self.data_root = default_data_root(self.data_root)
        self.val_split = val_split
        self.val_limit = val_limit
        self.seed = seed
        self._names: list[str] | None = None
        self._eval: SegDataModule | None = None

    # ----- what the CLI uses ------------------------------------------------------------------
    @property
    def spec(self) -> DatasetSpec:
        """The benchmark the pseudo-labels belong to: the classes the model learns and is scored on."""
        return self.dataset_spec

    def check_data(self) -> None:
        """Every label PNG of the manifest and every image it names exist; the benchmark is there."""
        if self._names is None:
            names = label_names_in(self.folder)
            if len(names) != self.manifest["count"]:
                raise OvsegUserError(
                    f"'{self.folder}' holds {len(names)} label PNGs but its manifest counts "
                    f"{self.manifest['count']}: an ovseg pseudo-label run into it has not finished. "
                    "Rerun that command (it resumes), then train."
                )
            if not names:
                raise OvsegUserError(f"'{self.folder}' holds no label PNGs.")
            if not self.dataset_spec.generated:
                folder = self._image_dir()
                missing = [
                    n for n in names if not (folder / f"{n}{self.dataset_spec.image_suffix}").is_file()
                ]
                if missing:
                    raise OvsegUserError(
                        f"{len(missing)} pseudo-labelled images are not under '{folder}' (first: "
                        f"'{missing[0]}{self.dataset_spec.image_suffix}'); point --data.data_root at the "
                        f"folder holding '{self.dataset_spec.base_dir}'."
                    )
            self._names = names
        self._eval_data().check_data()

    def _image_dir(self) -> Path:
        return image_folder(self.dataset_spec, self.data_root, self.manifest["split"])

    def _eval_data(self) -> SegDataModule:
        if self._eval is None:
            self._eval = SegDataModule(
                dataset=self.dataset_spec.name,
                data_root=self.data_root,
                split=self.val_split,
                num_workers=self.num_workers,
                limit=self.val_limit,
                image_size=self.manifest.get("image_size") or 64,
                seed=self.seed,
            )
        return self._eval

    # ----- training data ----------------------------------------------------------------------
    def train_set(self) -> PseudoLabelTrainSet:
        self.check_data()
        synthetic = None
        if self.dataset_spec.generated:
            synthetic = (int(self.manifest["seed"]), int(self.manifest["image_size"]))
        image_dir = None if synthetic else self._image_dir()
        return PseudoLabelTrainSet(
            self.folder, self._names, self.dataset_spec, self.transform, image_dir, synthetic
        )

    def setup(self, stage: str | None = None) -> None:
        self.check_data()

    def train_dataloader(self) -> DataLoader:
        dataset = self.train_set()
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=True,
            generator=generator,
            drop_last=len(dataset) >= self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            worker_init_fn=_seed_worker,
        )

    # ----- evaluation data --------------------------------------------------------------------
    def val_dataloader(self) -> DataLoader:
        return self._eval_data().val_dataloader()

    def test_dataloader(self) -> DataLoader:
        return self._eval_data().test_dataloader()

    def predict_dataloader(self) -> DataLoader:
        return self._eval_data().predict_dataloader()


def _seed_worker(worker_id: int) -> None:
    """numpy in each worker from torch's per-worker seed (the augmentation draws from torch)."""
    np.random.seed(torch.initial_seed() % 2**32)
