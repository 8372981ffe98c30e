"""What ``ovseg predict`` writes per image: a palette label PNG, a colour overlay with a legend, areas.

Label values: 0 is background, ``i`` is the i-th label (1-based), with or without background. The
colours are the PASCAL VOC palette's (``ovseg.data.palette``), in the PNG's palette and the overlay.
An image's files are written to temporary names in their folder and renamed into place together.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ovseg.data.palette import voc_palette

OVERLAY_ALPHA = 0.5  # weight of a label's colour over the image
LEGEND_BACKGROUND = (255, 255, 255)
LEGEND_TEXT = (0, 0, 0)


def write_together(writers: dict[Path, Callable[[Path], None]]) -> None:
    """Each ``writer(tmp)`` writes a temporary file beside its path; only when all succeeded are they
    renamed into place (the JSON last), so an interruption leaves no partial or unfinished file."""
    temps: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(handle)
            temps[path] = Path(name)
            write(temps[path])
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise


def label_image(labels: np.ndarray) -> Image.Image:
    """(H, W) label values → an 8-bit 'P' image carrying the VOC palette."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(voc_palette().reshape(-1).tolist())
    return image


def areas(labels: np.ndarray, names: Sequence[str], background: bool) -> dict[str, dict[str, float]]:
    """Pixels and share of the image per label: ``names[v]`` names value v (``names[0]`` background,
    listed only when there is a background)."""
    counts = np.bincount(labels.reshape(-1), minlength=len(names))
    total = labels.size
    first = 0 if background else 1
    return {
        names[value]: {"pixels": int(counts[value]), "fraction": float(counts[value] / total)}
        for value in range(first, len(names))
    }


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # scalable where Pillow has FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def overlay_image(
    rgb: np.ndarray, labels: np.ndarray, legend: dict[str, dict[str, float]], background: bool
) -> Image.Image:
    """The image with each label's colour blended in, and a legend panel on its right.

    Background (value 0) stays uncoloured. The legend lists every entry of ``legend`` with its
    colour and its share of the image. The result is (max(H, legend height), W + legend width).

    Args:
        rgb: (H, W, 3) uint8 image.
        labels: (H, W) label values.
        legend: ``areas``' output, in value order: background (value 0) first when ``background``,
            then label 1, 2, ...
        background: whether the first legend entry is the background.
    """
    palette = voc_palette().astype(np.float32)
    height, width = labels.shape
    coloured = labels > 0  # (H, W)
    blended = rgb.astype(np.float32)  # (H, W, 3)
    blended[coloured] = (1 - OVERLAY_ALPHA) * blended[coloured] + OVERLAY_ALPHA * palette[labels[coloured]]
    picture = Image.fromarray(blended.round().clip(0, 255).astype(np.uint8), mode="RGB")

    font_size = int(min(max(round(height / 25), 11), 28))
    font = _font(font_size)
    pad, row, swatch = font_size // 2, font_size + font_size // 2, font_size
    entries = list(enumerate(legend.items(), start=0 if background else 1))
    texts = [
        f"{name}{' (uncoloured)' if value == 0 else ''}  {100 * area['fraction']:.1f}%"
        for value, (name, area) in entries
    ]
    measure = ImageDraw.Draw(picture)
    text_width = max(int(measure.textlength(text, font=font)) + 1 for text in texts)
    legend_width = pad + swatch + pad + text_width + pad
    legend_height = pad + row * len(texts) + pad
    canvas = Image.new("RGB", (width + legend_width, max(height, legend_height)), LEGEND_BACKGROUND)
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for line, ((value, _), text) in enumerate(zip(entries, texts, strict=True)):
        top = pad + line * row
        box = (width + pad, top, width + pad + swatch - 1, top + swatch - 1)
        fill = LEGEND_BACKGROUND if value == 0 else tuple(int(c) for c in palette[value])
        draw.rectangle(box, outline=LEGEND_TEXT, fill=fill)
        draw.text(
            (width + 2 * pad + swatch, top + swatch / 2), text, fill=LEGEND_TEXT, font=font, anchor="lm"
        )
    return canvas


def write_outputs(
    out: Path, stem: str, rgb: np.ndarray, labels: np.ndarray, names: Sequence[str], record: dict
) -> dict[str, Path]:
    """Write ``stem.png`` (labels), ``stem_overlay.png`` and ``stem.json`` (``record`` + areas).

    ``names[v]`` names label value v, ``names[0]`` the background; ``record["background"]`` says
    whether there is one (its area is listed only then)."""
    background = bool(record["background"])
    label_areas = areas(labels, names, background)
    paths = {
        "labels": out / f"{stem}.png",
        "overlay": out / f"{stem}_overlay.png",
        "json": out / f"{stem}.json",
    }
    overlay = overlay_image(rgb, labels, label_areas, background)
    payload = {**record, "areas": label_areas}
    payload.update(label_png=str(paths["labels"]), overlay_png=str(paths["overlay"]))
    write_together(
        {
            paths["labels"]: lambda tmp: label_image(labels).save(tmp, format="PNG"),
            paths["overlay"]: lambda tmp: overlay.save(tmp, format="PNG"),
            paths["json"]: lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"),
        }
    )
    return paths
