"""Shared machinery of ``ovseg prepare``: atomic, resumable PNG writes, the progress bar, dispatch.

Every output goes through a temporary file in the output's own folder and ``os.replace``, so an
output path either does not exist or holds a whole file. A run that is killed leaves at most a
hidden ``.NAME.PID.ovseg-tmp`` file behind, which the next run deletes; outputs that already hold a
complete PNG of the right size are skipped, so running a converter again resumes it.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ovseg.errors import OvsegUserError

WRITTEN, SKIPPED, REPLACED = "written", "skipped", "replaced"
TEMP_SUFFIX = ".ovseg-tmp"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TRAILER = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk every PNG ends with

CONVERTERS: dict[str, str] = {
    "coco-object": "ovseg.data.convert_coco:convert_coco_object",
    "context": "ovseg.data.convert_context:convert_context",
}


class PrepareError(OvsegUserError):
    """A raw download that cannot be converted; the message names the file and the fix."""


class MissingInputError(PrepareError, FileNotFoundError):
    """A raw download is not where it was expected; the message names the path and the download."""


def output_status(path: Path, size: tuple[int, int]) -> str:
    """SKIPPED: a complete PNG of ``size`` (width, height); REPLACED: broken or other; WRITTEN: absent."""
    if not path.exists():
        return WRITTEN
    return SKIPPED if is_complete_png(path, size) else REPLACED


def is_complete_png(path: Path, size: tuple[int, int] | None = None) -> bool:
    """Whether ``path`` is a whole PNG (signature and IEND trailer) of ``size`` (width, height)."""
    try:
        with path.open("rb") as handle:
            if handle.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
                return False
            handle.seek(-len(_PNG_TRAILER), os.SEEK_END)
            if handle.read() != _PNG_TRAILER:
                return False
        if size is None:
            return True
        with Image.open(path) as image:  # reads the header only
            return image.size == tuple(size)
    except OSError:  # absent, shorter than the trailer, or an unreadable header
        return False


def temp_path(path: Path) -> Path:
    """The hidden temporary file an atomic write of ``path`` goes through (same folder)."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def write_png(label: np.ndarray, path: Path) -> None:
    """Save a (H, W) uint8 label map as a greyscale PNG at ``path``, atomically."""
    if label.dtype != np.uint8 or label.ndim != 2:
        raise ValueError(f"label maps are (H, W) uint8 arrays, got {label.dtype} of shape {label.shape}")
    temp = temp_path(path)
    try:
        Image.fromarray(label).save(temp, format="PNG")  # mode L
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_text(text: str, path: Path) -> bool:
    """Write ``text`` to ``path`` atomically unless it already holds exactly that; True if written."""
    if path.is_file() and path.read_text() == text:
        return False
    temp = temp_path(path)
    try:
        temp.write_text(text)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return True


def remove_stale_temps(folder: Path) -> int:
    """Delete the temporary files that killed runs left in ``folder``; returns how many."""
    stale = list(folder.glob(f".*{TEMP_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def run_tasks(
    function: Callable[[Any], Sequence[str]],
    tasks: Sequence[Any],
    description: str,
    workers: int = 1,
    progress: bool = True,
) -> Counter[str]:
    """Run ``function`` on every task under a progress bar; counts the statuses the calls return.

    Args:
        function: a module-level function (picklable) returning the status of each output it made.
        tasks: its arguments, one per call.
        description: the progress bar's label.
        workers: processes to spread the calls over (1: run them here).
        progress: show the progress bar (on stderr).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    counts: Counter[str] = Counter({WRITTEN: 0, SKIPPED: 0, REPLACED: 0})
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        bar_task = bar.add_task(description, total=len(tasks))
        for statuses in _results(function, tasks, workers):
            counts.update(statuses)
            bar.advance(bar_task)
    return counts


def _results(function: Callable[[Any], Sequence[str]], tasks: Sequence[Any], workers: int) -> Iterator:
    if workers == 1 or len(tasks) < 2:
        yield from map(function, tasks)
        return
    chunk = max(1, min(64, len(tasks) // (8 * workers)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(function, tasks, chunksize=chunk)


def convert(name: str, root: str | Path, **options: Any) -> dict[str, int]:
    """Run the converter called ``name`` (a key of CONVERTERS) on the data root ``root``."""
    if name not in CONVERTERS:
        raise PrepareError(f"Unknown converter '{name}'. Valid converters: {', '.join(CONVERTERS)}.")
    module, function = CONVERTERS[name].split(":")
    return getattr(importlib.import_module(module), function)(root, **options)
