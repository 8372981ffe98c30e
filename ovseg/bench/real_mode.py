"""Real mode: no training; every checkpoint scored on every real dataset under one protocol.

Everything is checked first (datasets on disk, checkpoint files readable by their method, the
protocol's name); then each method runs ``ovseg.bench.checkpoint_run`` in a process of its own,
which evaluates through the same code path as ``ovseg test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ovseg.bench.budget import budget_statement, method_budget
from ovseg.bench.inputs import BenchInputError, CheckpointInput, check_checkpoint, check_datasets
from ovseg.bench.pictures import draw_pictures
from ovseg.bench.results import display_name, method_entry
from ovseg.bench.runs import run_module
from ovseg.errors import OvsegUserError
from ovseg.evaluation.protocols import get_protocol


@dataclass(frozen=True)
class RealPlan:
    datasets: list[str]
    checkpoints: dict[str, CheckpointInput]  # method alias → its checkpoint
    configs: dict[str, str]  # method alias → YAML setting the architecture of foreign weights
    protocol: str
    data_root: str | None
    grid: int
    workers: int


def plan_real(args) -> RealPlan:
    """Check every input before any work; a problem raises an OvsegUserError naming the fix."""
    given = {"segclip": args.segclip_ckpt, "sseg": args.sseg_ckpt}
    if not args.data:
        raise BenchInputError(
            "real mode needs --data (e.g. --data voc context coco) beside the checkpoints; "
            "without checkpoints and --data, bench.py trains on the synthetic data instead."
        )
    if not any(given.values()):
        raise BenchInputError(
            "--data needs at least one checkpoint: --segclip-ckpt FILE and/or --sseg-ckpt FILE."
        )
    get_protocol(args.protocol)
    datasets = list(dict.fromkeys(args.data))  # keep the order, drop repeats
    problems, checkpoints = [], {}
    for dataset in datasets:  # every problem is reported at once, not one per attempt
        try:
            check_datasets([dataset], args.data_root)
        except OvsegUserError as error:
            problems.append(str(error))
    for method, path in given.items():
        try:
            if path:
                checkpoints[method] = check_checkpoint(method, path)
        except OvsegUserError as error:
            problems.append(str(error))
    configs = {"segclip": args.segclip_config, "sseg": args.sseg_config}
    for method, config in configs.items():
        if config and not Path(config).is_file():
            problems.append(
                f"--{method}-config {config}: no such file (a YAML such as experiments/{method}/*.yaml)."
            )
    if problems:
        raise BenchInputError("\n".join(problems))
    configs = {method: config for method, config in configs.items() if config and method in checkpoints}
    return RealPlan(datasets, checkpoints, configs, args.protocol, args.data_root, args.grid, args.workers)


def run_real(plan: RealPlan, folder: Path) -> dict:
    """Score every checkpoint into ``folder/<method>/``; returns the report's figures."""
    results = {}
    for method, checkpoint in plan.checkpoints.items():
        out = folder / method
        args = [
            "--method", method, "--ckpt", str(checkpoint.path), "--data", *plan.datasets,
            "--out", str(out), "--protocol", plan.protocol, "--grid", str(plan.grid),
            "--workers", str(plan.workers),
            *(["--data-root", plan.data_root] if plan.data_root is not None else []),
            *(["--config", plan.configs[method]] if method in plan.configs else []),
        ]  # fmt: skip
        what = (
            f"evaluating {display_name(method)} ({checkpoint.kind} checkpoint) on {', '.join(plan.datasets)}"
        )
        results[method] = run_module("ovseg.bench.checkpoint_run", args, out, what)
    entries = {display_name(m): method_entry(r) for m, r in results.items()}
    budgets = {name: method_budget(entry) for name, entry in entries.items()}
    pictures = draw_pictures(
        folder,
        plan.datasets,
        entries,
        {display_name(m): folder / m / "predictions.npz" for m in results},
        loss_points=None,
    )
    return {
        "mode": "real",
        "protocol": plan.protocol,
        "datasets": plan.datasets,
        "seed": None,
        "budget": {"per_method": budgets, "statement": budget_statement(budgets, trained=False)},
        "chance": {},
        "methods": entries,
        "pictures": pictures,
        "note": "Checkpoints evaluated as given (no training), each through `ovseg test`'s code path.",
    }
