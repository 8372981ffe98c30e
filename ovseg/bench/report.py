"""The benchmark report: rich tables in the terminal, ``report.md`` and ``report.json``.

A report is plain data::

    {"run": str, "mode": "synthetic" | "real", "protocol": str, "datasets": [str], "seed": int | None,
     "seeds": [int] (synthetic mode), "seed_spread": {name: {"seeds", "mIoU", "aAcc", "naming_mIoU",
     and "<figure>_mean", "<figure>_std" of each}} | None (synthetic mode with several seeds),
     "budget": {"per_method": {name: {...}}, "statement": str},
     "chance": {dataset: {"all_background": float, "uniform": float}},
     "oracle": {dataset: {source: float}} (synthetic mode: the pseudo-mask oracles and the
     ground-truth oracle, upper bounds; optional),
     "environment": {...}, "methods": {name: entry (see ``ovseg.bench.results``)},
     "pictures": {kind: file name in the run folder}, "wall_seconds": float, "note": str}
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from ovseg.bench.cells import cell
from ovseg.bench.diagnostic_tables import (
    CEILING_HEADER,
    CEILING_NOTE,
    NAMING_HEADER,
    NAMING_NOTE,
    ceiling_rows,
    naming_rows,
)
from ovseg.bench.oracle_levels import ORACLE_NAMES, oracle_note
from ovseg.evaluation.report import write_json_atomic

CHANCE_NAMES = {"all_background": "chance: all background", "uniform": "chance: uniform labels"}


def environment() -> dict:
    """Versions, device and threads of the benchmark's process."""
    from ovseg import __version__

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return {
        "ovseg": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "bench_process_threads": torch.get_num_threads(),
    }


def header(report: dict) -> list[str]:
    several = len(report["datasets"]) > 1
    return [
        "method",
        *[f"{dataset} mIoU" for dataset in report["datasets"]],
        "average mIoU",
        "mean aAcc" if several else "aAcc",
        "params",
        "train s",
        "train img/s",
        "eval img/s",
        "peak MiB",
    ]


def summary_rows(report: dict) -> list[list[str]]:
    """One row per method (mIoU per dataset, average, aAcc, costs), then the chance levels."""
    rows = []
    for name, method in report["methods"].items():
        train = method.get("train") or {}
        rows.append(
            [
                name,
                *[cell(method["results"][dataset]["mIoU"]) for dataset in report["datasets"]],
                cell(method["average"]["mIoU"]),
                cell(method["average"]["aAcc"]),
                f"{method['parameters']['total'] / 1e6:.2f}M",
                cell(train.get("seconds"), 1),
                cell(train.get("images_per_s"), 1),
                cell(method["average"]["eval_images_per_s"], 1),
                cell(method.get("peak_memory_mb"), 0),
            ]
        )
    chance = report.get("chance") or {}
    for key, label in CHANCE_NAMES.items():
        if chance:
            cells = [cell(chance[d][key]) if d in chance else "—" for d in report["datasets"]]
            rows.append([label, *cells] + ["—"] * (len(header(report)) - 1 - len(cells)))
    oracle = report.get("oracle") or {}
    for key, label in ORACLE_NAMES.items():
        if any(key in levels for levels in oracle.values()):
            cells = [cell(oracle.get(d, {}).get(key)) for d in report["datasets"]]
            rows.append([label, *cells] + ["—"] * (len(header(report)) - 1 - len(cells)))
    return rows


BUDGET_HEADER = ["method", "steps", "batch", "images seen", "evaluation images"]


def budget_rows(report: dict) -> list[list[str]]:
    rows = []
    for name, budget in report["budget"]["per_method"].items():
        evaluation = ", ".join(f"{d} {n}" for d, n in budget["evaluation_images"].items())
        rows.append(
            [name, cell(budget["steps"]), cell(budget["batch_size"]), cell(budget["images_seen"]), evaluation]
        )
    return rows


SPREAD_HEADER = [
    "method",
    "seeds",
    "mIoU per seed",
    "mIoU mean ± std",
    "aAcc mean ± std",
    "naming mIoU mean ± std",
    "recognition AUC mean ± std",
]


def spread_note(report: dict) -> str:
    return (
        f"Each method trained once per seed (initialisation, order and augmentation of the same training "
        f"pairs); standard deviation over seeds (n − 1). Naming: the mIoU with the background ignored; "
        f"recognition: the image-level class scores' AUC (both below). The other tables and the pictures "
        f"are seed {report['seed']}'s."
    )


def _mean_and_std(spread: dict, key: str) -> str:
    """The mean ± std of one figure over the seeds, or "—" when a run lacks it."""
    if spread.get(f"{key}_mean") is None:
        return "—"
    return f"{cell(spread[f'{key}_mean'])} ± {cell(spread[f'{key}_std'])}"


def spread_rows(report: dict) -> list[list[str]]:
    """One row per method trained with several seeds (synthetic mode)."""
    rows = []
    for name, spread in (report.get("seed_spread") or {}).items():
        rows.append(
            [
                name,
                " ".join(str(seed) for seed in spread["seeds"]),
                " / ".join(cell(value) for value in spread["mIoU"]),
                _mean_and_std(spread, "mIoU"),
                _mean_and_std(spread, "aAcc"),
                _mean_and_std(spread, "naming_mIoU"),
                _mean_and_std(spread, "recognition_auc"),
            ]
        )
    return rows


def protocol_lines(report: dict) -> list[str]:
    """The evaluation settings per dataset (they are method-blind: taken from the first method)."""
    first = next(iter(report["methods"].values()))
    lines = []
    for dataset in report["datasets"]:
        p = first["results"][dataset]["protocol"]
        window = f"slide {p['crop']}/{p['stride']}" if p["mode"] == "slide" else "whole"
        lines.append(
            f"{dataset}: short side {p['short_side'] or 'native'}, {window}, templates "
            f"'{p['template_set']}', background threshold {p['bg_threshold']}, "
            f"class filter {_class_filter(p)}, background rule {p.get('background_rule') or 'none'}"
        )
    return lines


def _class_filter(protocol: dict) -> str:
    """'top 5, product' or 'off' (results written before the rules were recorded say only top-k)."""
    if not protocol.get("top_k_classes"):
        return "off"
    return f"top {protocol['top_k_classes']}, {protocol.get('top_k_combine', 'product')}"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def per_class_rows(report: dict, dataset: str) -> tuple[list[str], list[list[str]]]:
    methods = report["methods"]
    names = next(iter(methods.values()))["results"][dataset]["label_names"]
    rows = [
        [name, *[cell(m["results"][dataset]["IoU"][index]) for m in methods.values()]]
        for index, name in enumerate(names)
    ]
    return ["class", *methods], rows


def print_report(report: dict, console: Console | None = None) -> None:
    """Summary with chance levels, budget, protocol, then a per-class IoU table per dataset."""
    console = console or Console(width=160)
    title = f"ovseg bench · {report['mode']} · protocol {report['protocol']}"
    console.print(_table(title, header(report), summary_rows(report)))
    if oracle_note(report):
        console.print(oracle_note(report))
    spread = spread_rows(report)
    if spread:
        console.print(_table("spread over seeds", SPREAD_HEADER, spread))
        console.print(spread_note(report))
    console.print(_table("budget per method", BUDGET_HEADER, budget_rows(report)))
    console.print(report["budget"]["statement"])
    for line in protocol_lines(report):
        console.print(f"protocol {report['protocol']} on {line}")
    ceilings = ceiling_rows(report)
    if ceilings:
        console.print(_table("confidence ceiling", CEILING_HEADER, ceilings))
        console.print(CEILING_NOTE)
    naming = naming_rows(report)
    if naming:
        console.print(_table("naming without background", NAMING_HEADER, naming))
        console.print(NAMING_NOTE)
    for dataset in report["datasets"]:
        columns, rows = per_class_rows(report, dataset)
        console.print(_table(f"per-class IoU · {dataset}", columns, rows))


def _md_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown(report: dict) -> str:
    """``report.md``: the same figures, per-class IoU in expandable sections, pictures embedded."""
    lines = [f"# ovseg bench — {report['run']}", ""]
    lines.append(f"Mode **{report['mode']}**, protocol **{report['protocol']}**. {report.get('note', '')}")
    lines += ["", *_md_table(header(report), summary_rows(report))]
    if oracle_note(report):
        lines += ["", oracle_note(report)]
    spread = spread_rows(report)
    if spread:
        lines += ["", "## Spread over seeds", "", *_md_table(SPREAD_HEADER, spread), "", spread_note(report)]
    lines += ["", "## Budget", "", *_md_table(BUDGET_HEADER, budget_rows(report))]
    lines += ["", report["budget"]["statement"]]
    lines += ["", "## Protocol", "", *[f"- {line}" for line in protocol_lines(report)]]
    ceilings = ceiling_rows(report)
    if ceilings:
        lines += ["", "## Confidence ceiling", "", *_md_table(CEILING_HEADER, ceilings), "", CEILING_NOTE]
    naming = naming_rows(report)
    if naming:
        lines += ["", "## Naming without background", "", *_md_table(NAMING_HEADER, naming), "", NAMING_NOTE]
    lines += ["", "## Per-class IoU"]
    for dataset in report["datasets"]:
        columns, rows = per_class_rows(report, dataset)
        lines += ["", f"<details><summary>Per-class IoU on {dataset}</summary>", ""]
        lines += [*_md_table(columns, rows), "", "</details>"]
    lines += ["", "## Environment", ""]
    lines += [", ".join(f"{key} {value}" for key, value in report["environment"].items()) + "."]
    for name, method in report["methods"].items():
        lines.append(
            f"- {name}: {method['model']} from `{method['source']}`, device {method.get('device')}, "
            f"{method.get('threads')} compute thread{'' if method.get('threads') == 1 else 's'}"
        )
    if report.get("pictures"):
        lines += ["", "## Pictures"]
        lines += [line for kind, path in report["pictures"].items() for line in ("", f"![{kind}]({path})")]
    lines += ["", f"Wall time of the whole benchmark: {cell(report.get('wall_seconds'), 1)} s."]
    return "\n".join(lines) + "\n"


def write_report(report: dict, folder: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``folder`` (each atomically)."""
    json_path = write_json_atomic(folder / "report.json", report)
    md_path = folder / "report.md"
    tmp = folder / ".report.md.tmp"
    tmp.write_text(markdown(report))
    tmp.replace(md_path)
    return json_path, md_path
