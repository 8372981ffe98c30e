"""Raw records → samples: image decoding and RGB conversion, captions, and the skip reasons.

A source yields RAW records ``{"key", "image_key", "image", "caption"}`` whose image is still cheap
(encoded bytes, a path or an already generated PIL image); ``decode_record`` turns a record into a
SAMPLE ``{"image": PIL RGB, "caption": str, "key": str, "image_key": str}`` or raises ``BadSample``.
Bad data never stops training: unreadable images, empty captions and unreadable tar shards are
skipped and counted under ``SKIP_REASONS``. Grey, CMYK, palette and alpha images become RGB.

Image size is bounded before pixels are decoded (the header is read first): an image whose shorter
side is under ``MIN_IMAGE_SIDE`` is skipped as ``too_small`` (a 1×1 pixel says nothing about its
caption); a large JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's draft mode) and any image is
then resized to a long side of at most ``MAX_DECODE_SIDE``, so a 10000×10000 photo costs ~20 MB,
not 300 MB; an image too large even for that (a huge PNG, or beyond Pillow's decompression-bomb
limit) is skipped as ``too_large``. These two reasons are reported when they occur. Crop boxes and
superpixel caches refer to the decoded image, which every path decodes the same way.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from PIL import Image

SKIP_REASONS = ("unreadable_image", "empty_caption", "unreadable_shard")
SIZE_SKIP_REASONS = ("too_small", "too_large")  # reported only when met

MIN_IMAGE_SIDE = 16  # less than one ViT patch of 16 px: no content to crop or learn from
MAX_DECODE_SIDE = 2048  # training crops are ≤ 448 px; decoding more only costs memory
MAX_DECODE_PIXELS = 50_000_000  # ~150 MB as RGB: the most a non-JPEG image may decode to


class BadSample(Exception):
    """A record that cannot become a training pair; ``reason``: ``SKIP_REASONS`` or ``SIZE_SKIP_REASONS``."""

    def __init__(self, reason: str, key: str, detail: str = "") -> None:
        super().__init__(f"{key}: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.key = key
        self.detail = detail


def skip_record(reason: str, key: str, detail: str = "") -> dict:
    """A record that stands for unusable data (a broken shard), so that it is counted once."""
    return {"skip": reason, "key": key, "detail": detail}


_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode → RGB; transparent pixels are laid over white."""
    if image.mode == "RGB":
        return image
    if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def open_rgb(image: Any, key: str = "?") -> Image.Image:
    """Encoded bytes, a path, a ``{"bytes", "path"}`` dict or a PIL image → a loaded RGB image.

    The long side is at most ``MAX_DECODE_SIDE`` (see the module docstring).

    Raises:
        BadSample: ``unreadable_image`` for a missing, truncated or undecodable image; ``too_small``
            or ``too_large`` for an image outside the size bounds.
    """
    try:
        if isinstance(image, dict):
            image = image.get("bytes") or image.get("path")
        if isinstance(image, (str, os.PathLike)):
            image = Path(image).read_bytes()
        with warnings.catch_warnings():  # the size is bounded below, whatever the header says
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if isinstance(image, (bytes, bytearray, memoryview)):
                image = Image.open(io.BytesIO(image))
            if not isinstance(image, Image.Image):
                raise TypeError(f"no image data (got {type(image).__name__})")
            return _decode_bounded(image, key)
    except BadSample:
        raise
    except Image.DecompressionBombError as error:
        raise BadSample("too_large", key, str(error)) from error
    except Exception as error:
        raise BadSample("unreadable_image", key, f"{type(error).__name__}: {error}") from error


def _decode_bounded(image: Image.Image, key: str) -> Image.Image:
    """An opened (header-only) image → loaded RGB with its long side at most ``MAX_DECODE_SIDE``."""
    width, height = image.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise BadSample("too_small", key, f"{width}×{height} px, under {MIN_IMAGE_SIDE} px")
    scale = min(1.0, MAX_DECODE_SIDE / max(width, height))
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 1.0:
        image.draft(None, target)  # JPEG: decode at a reduced scale no smaller than target
    if image.width * image.height > MAX_DECODE_PIXELS:
        raise BadSample(
            "too_large", key, f"{width}×{height} px would decode to {image.width * image.height} pixels"
        )
    image.load()
    image = to_rgb(image)
    if image.size != target:
        image = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
    return image


def decode_caption(caption: Any) -> str:
    """Caption bytes or text → stripped text ('' when there is none)."""
    if caption is None:
        return ""
    if isinstance(caption, (bytes, bytearray)):
        caption = bytes(caption).decode("utf-8", errors="replace")
    return str(caption).strip()


def decode_record(record: dict) -> dict:
    """Raw record → sample; the caption is checked first, so an image is only decoded when needed.

    Raises:
        BadSample: for a skip marker, an empty caption or an unreadable image.
    """
    key = record["key"]
    if "skip" in record:
        raise BadSample(record["skip"], key, record.get("detail", ""))
    caption = decode_caption(record.get("caption"))
    if not caption:
        raise BadSample("empty_caption", key)
    image = open_rgb(record.get("image"), key)
    return {"image": image, "caption": caption, "key": key, "image_key": record.get("image_key", key)}
