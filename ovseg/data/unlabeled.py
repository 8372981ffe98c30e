"""A benchmark split's images WITHOUT their labels: what S-Seg+ pseudo-labels (``ovseg pseudo-label``).

Self-training may use the target domain's training images but never its ground truth, so this path
lists and reads image files only: a label file is never looked for, opened or decoded (the label
folder need not even exist). Real benchmarks follow the layouts of ``ovseg.data.catalog``; the
synthetic benchmark's "training images" are the scenes its image-text pairs are made of
(``render_scene(seed, index, "train")``), named by the same key as the pairs
(``synthetic-{seed}-{index:08d}``), so a pseudo-label PNG names the image it belongs to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ovseg.data.catalog import DatasetSpec
from ovseg.data.segmentation import MissingDatasetError
from ovseg.data.segmentation import _missing as missing_dataset
from ovseg.errors import OvsegUserError

SYNTHETIC_IMAGES = 1024  # training scenes pseudo-labelled by default on the synthetic benchmark


def image_folder(spec: DatasetSpec, root: str | Path, split: str) -> Path:
    """The folder holding one split's images."""
    disk_split = spec.val_split if split == "val" else split
    return Path(root) / spec.base_dir / spec.image_dir.format(split=disk_split)


def find_images(spec: DatasetSpec, root: str | Path, split: str) -> list[tuple[str, Path]]:
    """(name, image path) of one split, in split-file order (else sorted by path); labels untouched.

    A name is the image's path under the image folder without its suffix ("2007_000032", or
    "aachen/aachen_000000_000019" for Cityscapes' city folders).

    Raises:
        MissingDatasetError: the image folder, the split file or a listed image is missing.
    """
    if spec.generated:
        raise OvsegUserError(f"dataset '{spec.name}' is generated, not read from disk: use synthetic_images.")
    root = Path(root)
    disk_split = spec.val_split if split == "val" else split
    folder = image_folder(spec, root, split)
    if not folder.is_dir():
        raise missing_dataset(spec, root, split, f"image folder '{folder}' does not exist")
    if spec.split_file is not None:
        split_path = root / spec.base_dir / spec.split_file.format(split=disk_split)
        if not split_path.is_file():
            raise missing_dataset(spec, root, split, f"split file '{split_path}' does not exist")
        names = [line.strip() for line in split_path.read_text().splitlines() if line.strip()]
        images = [(name, folder / f"{name}{spec.image_suffix}") for name in names]
    else:
        paths = sorted(folder.rglob(f"*{spec.image_suffix}"))
        images = [(path.relative_to(folder).as_posix()[: -len(spec.image_suffix)], path) for path in paths]
    if not images:
        raise missing_dataset(spec, root, split, f"no '*{spec.image_suffix}' images in '{folder}'")
    for _, path in images:
        if not path.is_file():
            raise missing_dataset(spec, root, split, f"image '{path}' is missing")
    return images


def read_rgb(path: Path) -> torch.Tensor:
    """An image file as uint8 (3, H, W)."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))  # (H, W, 3)
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1)  # (3, H, W)


def synthetic_name(seed: int, index: int) -> str:
    """The key of synthetic training scene ``index`` (that of ``SyntheticPairDataset``)."""
    return f"synthetic-{seed}-{index:08d}"


def synthetic_index(name: str) -> int:
    """The scene index in a ``synthetic_name``."""
    return int(name.rsplit("-", 1)[1])


def render_synthetic_image(seed: int, index: int, image_size: int) -> torch.Tensor:
    """Synthetic training scene ``index`` as uint8 (3, S, S) (its image only)."""
    from ovseg.data.synthetic import render_scene

    scene = render_scene(seed, index, "train", image_size)
    return torch.from_numpy(scene.image).permute(2, 0, 1).contiguous()  # (3, S, S)


class UnlabeledImages(Dataset):
    """Images only: ``{"image": (3, H, W) uint8, "name": str}``.

    Args:
        names: item names, in order.
        paths: the image file of each name (real benchmarks), or None for synthetic scenes.
        seed, image_size: the synthetic scenes' stream and size (synthetic only).
    """

    def __init__(
        self, names: list[str], paths: list[Path] | None = None, seed: int = 0, image_size: int = 64
    ) -> None:
        self.names = list(names)
        self.paths = None if paths is None else list(paths)
        self.seed = seed
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        if self.paths is None:
            image = render_synthetic_image(self.seed, synthetic_index(name), self.image_size)
        else:
            image = read_rgb(self.paths[index])
        return {"image": image, "name": name}


def list_unlabeled(
    spec: DatasetSpec,
    root: str | Path,
    split: str = "train",
    num_images: int = SYNTHETIC_IMAGES,
    seed: int = 0,
    image_size: int = 64,
) -> UnlabeledImages:
    """Every image of a split (synthetic: the first ``num_images`` training scenes), no labels."""
    if spec.generated:
        if split != "train":
            raise OvsegUserError(
                f"--split {split}: the synthetic benchmark's unlabeled images are its training scenes; "
                "use --split train."
            )
        names = [synthetic_name(seed, index) for index in range(num_images)]
        return UnlabeledImages(names, None, seed, image_size)
    names, paths = zip(*find_images(spec, root, split), strict=True)
    return UnlabeledImages(list(names), list(paths))


__all__ = [
    "SYNTHETIC_IMAGES",
    "MissingDatasetError",
    "UnlabeledImages",
    "find_images",
    "image_folder",
    "list_unlabeled",
    "read_rgb",
    "render_synthetic_image",
    "synthetic_index",
    "synthetic_name",
]
