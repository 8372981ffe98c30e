"""Synthetic mode: train every method's tiny CPU recipe on the built-in pairs, score it, compare.

Each method runs ``ovseg.bench.method_run`` in a process of its own with the same seed, the same
step count (``--steps``, or each recipe's own length) and the same evaluation protocol on the
synthetic evaluation split.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ovseg.bench.budget import budget_statement, method_budget
from ovseg.bench.inputs import BenchInputError
from ovseg.bench.oracle_levels import synthetic_oracles
from ovseg.bench.pictures import draw_pictures
from ovseg.bench.results import display_name, method_entry
from ovseg.bench.runs import run_module
from ovseg.cli import MODEL_ALIASES
from ovseg.evaluation.protocols import get_protocol

REPO = Path(__file__).resolve().parents[2]
RECIPE = "experiments/{method}/tiny_cpu.yaml"


@dataclass(frozen=True)
class SyntheticPlan:
    recipes: dict[str, Path]  # method alias → its tiny recipe
    steps: int | None  # None: each recipe's own length
    seed: int
    eval_images: int
    grid: int
    protocol: str
    lightning_args: list[str]


def plan_synthetic(args) -> SyntheticPlan:
    """Check the methods, recipes and protocol before any work."""
    recipes = {}
    for method in args.methods:
        if method not in MODEL_ALIASES:
            raise BenchInputError(
                f"--methods {method}: unknown method. Valid methods: {', '.join(MODEL_ALIASES)}."
            )
        recipe = REPO / RECIPE.format(method=method)
        if not recipe.is_file():
            raise BenchInputError(f"--methods {method}: its tiny recipe {recipe} is missing.")
        recipes[method] = recipe
    get_protocol(args.protocol)
    if args.steps is not None and args.steps < 1:
        raise BenchInputError(f"--steps must be at least 1, got {args.steps}.")
    return SyntheticPlan(
        recipes,
        args.steps,
        args.seed,
        args.eval_images,
        args.grid,
        args.protocol,
        shlex.split(args.lightning_args or ""),
    )


def run_synthetic(plan: SyntheticPlan, folder: Path) -> dict:
    """Train and score every method into ``folder/<method>/``; returns the report's figures."""
    results = {}
    for method, recipe in plan.recipes.items():
        out = folder / method
        length = f"{plan.steps} steps" if plan.steps is not None else "its recipe's length"
        args = [
            "--recipe", str(recipe), "--out", str(out), "--seed", str(plan.seed),
            "--eval-limit", str(plan.eval_images), "--grid", str(plan.grid),
            *(["--steps", str(plan.steps)] if plan.steps is not None else []),
            "--protocol", plan.protocol, *plan.lightning_args,
        ]  # fmt: skip
        results[method] = run_module(
            "ovseg.bench.method_run", args, out, f"training {display_name(method)} for {length}"
        )
    entries = {display_name(m): method_entry(r) for m, r in results.items()}
    dataset = next(iter(next(iter(entries.values()))["results"]))
    budgets = {name: method_budget(entry) for name, entry in entries.items()}
    first = next(iter(results.values()))
    evaluated = next(iter(entries.values()))["results"][dataset]["num_images"]
    oracles = synthetic_oracles(
        evaluated,
        first["train"]["data"]["image_size"],
        first["train"]["data"]["seed"],
        plan.recipes.get("sseg"),
    )
    pictures = draw_pictures(
        folder,
        [dataset],
        entries,
        {display_name(m): folder / m / "predictions.npz" for m in results},
        {display_name(m): r["train"]["loss_curve"] for m, r in results.items()},
    )
    return {
        "mode": "synthetic",
        "protocol": plan.protocol,
        "datasets": [dataset],
        "seed": plan.seed,
        "budget": {"per_method": budgets, "statement": budget_statement(budgets, trained=True)},
        "chance": {dataset: first["chance"]},
        "oracle": {dataset: oracles},
        "methods": entries,
        "pictures": pictures,
        "note": "Every method: the same synthetic pairs (seed), steps and evaluation; budgets below.",
    }
