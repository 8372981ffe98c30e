"""What ``ovseg predict`` reads: free-text labels and image files, all checked before any work."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ovseg.data.classnames import BACKGROUND
from ovseg.errors import OvsegUserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_LABELS = 255  # label PNGs are 8-bit, 0 is background


def parse_labels(text: str, background: bool) -> tuple[str, ...]:
    """``"cat, dog, a red car"`` → ("cat", "dog", "a red car"); empty or repeated labels are errors."""
    labels = tuple(part.strip() for part in text.split(","))
    if not any(labels):
        raise OvsegUserError('--labels is empty: give comma-separated labels, e.g. --labels "cat, dog".')
    empty = [str(position + 1) for position, label in enumerate(labels) if not label]
    if empty:
        raise OvsegUserError(
            f"--labels: label {', '.join(empty)} is empty (two commas in a row, or a trailing comma); "
            "remove the extra comma."
        )
    seen: dict[str, str] = {}
    for label in labels:
        key = " ".join(label.lower().split())
        if key in seen:
            raise OvsegUserError(
                f"--labels: '{label}' is given twice ('{seen[key]}'); each label must be unique, since "
                "two equal labels get one text embedding. Remove one of them."
            )
        seen[key] = label
    if background and BACKGROUND in seen:
        raise OvsegUserError(
            f"--labels: '{BACKGROUND}' is label 0 already (pixels below the background threshold, or a "
            "selftrain model's own background class); drop it, or pass --no-background to make it an "
            "ordinary label."
        )
    if len(labels) > MAX_LABELS:
        raise OvsegUserError(f"--labels: {len(labels)} labels; label PNGs hold at most {MAX_LABELS}.")
    return labels


def find_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files from files and folders (a folder's own jpg/jpeg/png/bmp/webp files, sorted)."""
    if not inputs:
        raise OvsegUserError("no images given: pass image files or folders (e.g. ovseg predict ... photos/).")
    images: list[Path] = []
    for entry in map(Path, inputs):
        if entry.is_dir():
            found = sorted(p for p in entry.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise OvsegUserError(
                    f"folder '{entry}' holds no images ({', '.join(IMAGE_SUFFIXES)}; subfolders are not "
                    "searched): pass the folder that holds them."
                )
            images += found
        elif entry.is_file():
            images.append(entry)
        else:
            raise OvsegUserError(f"image '{entry}' does not exist: check the path.")
    images = list(dict.fromkeys(images))
    stems: dict[str, Path] = {}
    for image in images:
        if image.stem in stems:
            raise OvsegUserError(
                f"'{stems[image.stem]}' and '{image}' would both be written as '{image.stem}.png': "
                "predict them into separate --out folders."
            )
        stems[image.stem] = image
    return images


def read_image(path: Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); an unreadable file is an OvsegUserError naming it."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))  # (H, W, 3)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise OvsegUserError(
            f"cannot read image '{path}' ({type(error).__name__}: {error}); it is not an image or is "
            "truncated: replace it, or leave it out."
        ) from None


def check_images(paths: Sequence[Path]) -> None:
    """Decode every image once, so that a bad one stops the run before anything is written."""
    for path in paths:
        read_image(path)
