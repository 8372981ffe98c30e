"""The benchmark report: a rich table in the terminal, ``report.md`` and ``report.json``.

A report is plain data::

    {"run": str, "mode": "synthetic" | "real", "protocol": str, "datasets": [str],
     "budget": {...}, "chance": {dataset: {"all_background": float, "uniform": float}},
     "environment": {...},
     "methods": {name: {"parameters": {...}, "train": {...} | None, "peak_memory_mb": float,
                        "results": {dataset: {"mIoU", "aAcc", "IoU", "label_names", "images_per_s"}}}},
     "pictures": {kind: relative path}}
"""

from __future__ import annotations

import math
import platform
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from ovseg.evaluation.report import write_json_atomic


def environment() -> dict:
    from ovseg import __version__

    return {
        "ovseg": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"CPU ({platform.processor()})",
        "threads": torch.get_num_threads(),
    }


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def average_miou(results: dict[str, dict]) -> float | None:
    values = [entry["mIoU"] for entry in results.values() if entry.get("mIoU") is not None]
    return sum(values) / len(values) if values else None


def summary_rows(report: dict) -> list[list[str]]:
    """One row per method: mIoU per dataset, average, aAcc (first dataset), cost figures."""
    rows = []
    for name, method in report["methods"].items():
        results = method["results"]
        train = method.get("train") or {}
        first = results[report["datasets"][0]]
        rows.append(
            [
                name,
                *[_fmt(results[dataset]["mIoU"]) for dataset in report["datasets"]],
                _fmt(average_miou(results)),
                _fmt(first["aAcc"]),
                f"{method['parameters']['total'] / 1e6:.2f}M",
                _fmt(train.get("seconds"), 1),
                _fmt(train.get("images_per_s"), 1),
                _fmt(first.get("images_per_s"), 1),
                _fmt(method.get("peak_memory_mb"), 0),
            ]
        )
    return rows


SUMMARY_HEADER = [
    "train s",
    "train img/s",
    "eval img/s",
    "peak MiB",
]


def header(report: dict) -> list[str]:
    return [
        "method",
        *[f"{d} mIoU" for d in report["datasets"]],
        "average",
        "aAcc",
        "params",
        *SUMMARY_HEADER,
    ]


def print_report(report: dict, console: Console | None = None) -> None:
    """The summary table, the chance levels and a per-class IoU table per dataset."""
    console = console or Console(width=160)
    table = Table(title=f"ovseg bench · {report['mode']} · protocol {report['protocol']}")
    for index, column in enumerate(header(report)):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in summary_rows(report):
        table.add_row(*row)
    console.print(table)
    for dataset, levels in report.get("chance", {}).items():
        console.print(
            f"chance on {dataset}: all-background {_fmt(levels['all_background'])} mIoU, "
            f"uniform {_fmt(levels['uniform'])} mIoU"
        )
    for dataset in report["datasets"]:
        console.print(per_class_table(report, dataset))


def per_class_table(report: dict, dataset: str) -> Table:
    methods = report["methods"]
    names = next(iter(methods.values()))["results"][dataset]["label_names"]
    table = Table(title=f"per-class IoU · {dataset}")
    table.add_column("class")
    for method in methods:
        table.add_column(method, justify="right")
    for index, name in enumerate(names):
        table.add_row(name, *[_fmt(m["results"][dataset]["IoU"][index]) for m in methods.values()])
    return table


def markdown(report: dict) -> str:
    """``report.md``: the same figures, per-class IoU in expandable sections, pictures embedded."""
    lines = [f"# ovseg bench — {report['run']}", ""]
    lines.append(
        f"Mode **{report['mode']}**, protocol **{report['protocol']}**. {report.get('note', '')}".rstrip()
    )
    lines += ["", "| " + " | ".join(header(report)) + " |", "|" + "---|" * len(header(report))]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(report)]
    for dataset, levels in report.get("chance", {}).items():
        lines.append("")
        lines.append(
            f"Chance on {dataset}: all-background {_fmt(levels['all_background'])} mIoU, "
            f"uniform {_fmt(levels['uniform'])} mIoU."
        )
    for dataset in report["datasets"]:
        methods = report["methods"]
        names = next(iter(methods.values()))["results"][dataset]["label_names"]
        lines += ["", f"<details><summary>Per-class IoU on {dataset}</summary>", ""]
        lines += ["| class | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for index, name in enumerate(names):
            cells = [_fmt(m["results"][dataset]["IoU"][index]) for m in methods.values()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "</details>"]
    if report.get("budget"):
        lines += ["", "Budget: " + ", ".join(f"{k} = {v}" for k, v in report["budget"].items()) + "."]
    env = report["environment"]
    lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()) + "."]
    for kind, path in report.get("pictures", {}).items():
        lines += ["", f"![{kind}]({path})"]
    return "\n".join(lines) + "\n"


def write_report(report: dict, folder: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``folder`` (each atomically)."""
    json_path = write_json_atomic(folder / "report.json", report)
    md_path = folder / "report.md"
    tmp = folder / ".report.md.tmp"
    tmp.write_text(markdown(report))
    tmp.replace(md_path)
    return json_path, md_path
