"""Evaluation results: a rich table in the terminal and a self-describing JSON file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _fmt(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.2f}"


def results_table(result: dict) -> Table:
    """Per-class IoU and the summary metrics of one evaluation, as a rich table."""
    metrics = result["metrics"]
    title = (
        f"{result['dataset']['name']} · {result['dataset']['num_images']} images · "
        f"protocol {result['protocol']['name']}"
    )
    table = Table(title=title, show_footer=True)
    table.add_column("class", footer="mIoU / aAcc / mAcc")
    table.add_column(
        "IoU",
        justify="right",
        footer=f"{_fmt(metrics['mIoU'])} / {_fmt(metrics['aAcc'])} / {_fmt(metrics['mAcc'])}",
    )
    table.add_column("Acc", justify="right")
    for name, iou, acc in zip(result["dataset"]["label_names"], metrics["IoU"], metrics["Acc"], strict=True):
        table.add_row(name, _fmt(iou), _fmt(acc))
    return table


def print_results(result: dict, console: Console | None = None) -> None:
    """Print the results table."""
    (console or Console()).print(results_table(result))


def _json_safe(value):
    """NaN is not JSON: write it as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def write_json_atomic(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as JSON through a temporary file and a rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as tmp:
            json.dump(_json_safe(payload), tmp, indent=2, allow_nan=False)
            tmp.write("\n")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
