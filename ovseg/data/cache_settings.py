"""The settings file a per-sample cache folder is stamped with (superpixels, pseudo-masks)."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ovseg.errors import OvsegUserError


def read_settings(directory: Path, filename: str, settings_type: type) -> Any | None:
    """The settings a cache folder was built with, or None for a new folder."""
    path = directory / filename
    return settings_type(**json.loads(path.read_text())) if path.is_file() else None


def claim_settings(directory: Path, filename: str, settings: Any, what: str) -> None:
    """Record the settings (a dataclass) of a new cache, or check they match an existing one's."""
    existing = read_settings(directory, filename, type(settings))
    if existing is not None and existing != settings:
        raise OvsegUserError(
            f"{what} cache '{directory}' was built with {asdict(existing)}, not "
            f"{asdict(settings)}; use the same settings or another cache folder."
        )
    if existing is None:
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{filename}.{uuid.uuid4().hex}.tmp"
        temporary.write_text(json.dumps(asdict(settings), indent=2) + "\n")
        os.replace(temporary, directory / filename)
