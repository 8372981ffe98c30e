"""The on-disk superpixel cache: one ``.npy`` label map per image key, plus ``params.json``.

Maps live under ``{cache}/{source name}/.../{key}.npy``, written atomically; ``params.json`` holds
the settings the cache was built with.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ovseg.data.cache_settings import claim_settings, read_settings
from ovseg.data.segmentation import MissingDatasetError
from ovseg.data.superpixels.compute import SuperpixelSettings
from ovseg.errors import OvsegUserError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class SuperpixelCache:
    """One ``.npy`` label map per image key under ``directory``, plus ``params.json``."""

    PARAMS_FILE = "params.json"

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def path(self, image_key: str) -> Path:
        """The map's file: each '/'-separated part of the key is one folder level, made file-safe."""
        parts = [_UNSAFE.sub("_", part) for part in image_key.split("/") if part]
        if not parts or any(part in (".", "..") for part in parts):
            raise ValueError(f"image key {image_key!r} cannot name a cache file.")
        return self.directory.joinpath(*parts[:-1], parts[-1] + ".npy")

    def __contains__(self, image_key: str) -> bool:
        return self.path(image_key).is_file()

    def load(self, image_key: str) -> np.ndarray | None:
        """The cached map, None when there is none."""
        path = self.path(image_key)
        return np.load(path) if path.is_file() else None

    def save(self, image_key: str, labels: np.ndarray) -> None:
        """Write atomically: a temporary file in the same folder, then ``os.replace``."""
        path = self.path(image_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        dtype = np.uint16 if labels.size and labels.max() < np.iinfo(np.uint16).max else np.int32
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as handle:
                np.save(handle, labels.astype(dtype))
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def read_settings(self) -> SuperpixelSettings | None:
        return read_settings(self.directory, self.PARAMS_FILE, SuperpixelSettings)

    def claim(self, settings: SuperpixelSettings) -> None:
        """Record the settings of a new cache, or check they match an existing one's."""
        claim_settings(self.directory, self.PARAMS_FILE, settings, "superpixel")

    def check(self, settings: SuperpixelSettings) -> None:
        """For training: the cache exists and was built with ``settings``."""
        if not self.directory.is_dir():
            raise MissingDatasetError(
                f"superpixel cache '{self.directory}' does not exist. Build it with `ovseg prepare "
                f"superpixels --source KIND [source flags] --cache {self.directory}`, or leave "
                "superpixel_cache unset to compute superpixels on the fly."
            )
        existing = self.read_settings()
        if existing is not None and existing != settings:
            raise OvsegUserError(
                f"superpixel cache '{self.directory}' was built with {asdict(existing)} but training asks "
                f"for {asdict(settings)}; match the superpixel_* options or rebuild the cache."
            )
