"""The files of a pseudo-label folder: one label PNG per image, a settings stamp and a manifest.

``DIR/<name>.png``                 8-bit palette PNG (PASCAL VOC colours) of the image called <name>:
                                   0 background and k + 1 class k on a benchmark with background,
                                   else k; 255 (ignore) is never written.
``DIR/pseudo_label_settings.json`` what made the labels, written when the first run starts; a rerun
                                   with other settings (another checkpoint, threshold, ...) is refused.
``DIR/pseudo_labels.json``         the manifest, written LAST: its presence means every image of the
                                   run has its PNG (``count`` of them).

Each PNG is written to a hidden temporary file in ``DIR`` and renamed into place, so a killed run
leaves whole PNGs only, and a rerun skips them and produces the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ovseg.data.palette import voc_palette
from ovseg.errors import OvsegUserError

MANIFEST = "pseudo_labels.json"
SETTINGS = "pseudo_label_settings.json"
IGNORE_INDEX = 255


@dataclass(frozen=True)
class PseudoLabelSettings:
    """What a folder's labels come from; equal settings are required to resume a folder."""

    checkpoint: str
    checkpoint_sha256: str
    model: str
    dataset: str
    split: str
    protocol: str
    bg_threshold: float | None
    background_rule: str | None
    class_names: tuple[str, ...]
    has_background: bool
    num_images: int
    image_size: int | None  # synthetic scenes' size (None: real images at their own size)
    seed: int | None  # synthetic scenes' stream


def label_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.png"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_label_png(path: Path, labels: np.ndarray, keep_ignore: bool = False) -> None:
    """(H, W) labels 0..254 → palette PNG at ``path``, through a temporary file and a rename.
    ``keep_ignore`` also lets 255 (ignore) through: ground truth, which a model never predicts."""
    highest = IGNORE_INDEX if keep_ignore else IGNORE_INDEX - 1
    if labels.ndim != 2 or labels.min() < 0 or labels.max() > highest:
        raise ValueError(
            f"labels must be (H, W) values in 0..{highest}, got {labels.shape} {labels.min()}..{labels.max()}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(voc_palette().reshape(-1).tolist())
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with open(temporary, "wb") as handle:
            image.save(handle, format="PNG")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def label_values(spec) -> dict[str, int]:
    """The value each label name of a benchmark gets in a label PNG (background first, if any)."""
    return {name: value for value, name in enumerate(spec.label_names)}


def read_label_png(path: Path) -> np.ndarray:
    """(H, W) uint8 label values of a pseudo-label PNG (palette indices, not colours)."""
    with Image.open(path) as image:
        if image.mode not in ("P", "L"):
            raise OvsegUserError(f"'{path}' is a {image.mode} image, not a label PNG (mode P or L).")
        return np.asarray(image, dtype=np.uint8).copy()


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise OvsegUserError(f"cannot read '{path}' ({type(error).__name__}: {error}).") from None


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of a finished ``ovseg pseudo-label`` run in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise OvsegUserError(
            f"pseudo-label folder '{folder}' does not exist; make it with: ovseg pseudo-label --ckpt CKPT "
            f"--data NAME --out {folder}"
        )
    path = folder / MANIFEST
    if not path.is_file():
        raise OvsegUserError(
            f"'{folder}' has no {MANIFEST}: its ovseg pseudo-label run has not finished. Rerun the same "
            "command (it resumes where it stopped) before training on it."
        )
    return read_json(path)


def label_names_in(folder: Path) -> list[str]:
    """The names of the label PNGs under ``folder`` (sub-folders included), sorted."""
    folder = Path(folder)
    return sorted(
        p.relative_to(folder).as_posix()[:-4] for p in folder.rglob("*.png") if not p.name.startswith(".")
    )
