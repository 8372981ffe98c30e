"""Raw records → samples: image decoding and RGB conversion, captions, and the skip reasons.

A source yields RAW records ``{"key", "image_key", "image", "caption"}`` whose image is still cheap
(encoded bytes, a path or an already generated PIL image); ``decode_record`` turns a record into a
SAMPLE ``{"image": PIL RGB, "caption": str, "key": str, "image_key": str}`` or raises ``BadSample``.
Bad data never stops training: unreadable images, empty captions and unreadable tar shards are
skipped and counted under ``SKIP_REASONS``. Grey, CMYK, palette and alpha images become RGB.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from PIL import Image

SKIP_REASONS = ("unreadable_image", "empty_caption", "unreadable_shard")


class BadSample(Exception):
    """A record that cannot become a training pair; ``reason`` is one of ``SKIP_REASONS``."""

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

    Raises:
        BadSample: ``unreadable_image`` for a missing, truncated or undecodable image.
    """
    try:
        if isinstance(image, dict):
            image = image.get("bytes") or image.get("path")
        if isinstance(image, (str, os.PathLike)):
            image = Path(image).read_bytes()
        if isinstance(image, (bytes, bytearray, memoryview)):
            image = Image.open(io.BytesIO(image))
        if not isinstance(image, Image.Image):
            raise TypeError(f"no image data (got {type(image).__name__})")
        image.load()
        return to_rgb(image)
    except Exception as error:
        raise BadSample("unreadable_image", key, f"{type(error).__name__}: {error}") from error


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
