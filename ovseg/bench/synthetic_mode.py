"""Synthetic mode: train every method's tiny CPU recipe on the built-in pairs, score it, compare.

Each method runs ``ovseg.bench.method_run`` in a process of its own with the same seed, the same
step count (``--steps``, or each recipe's own length) and the same evaluation protocol on the
synthetic evaluation split. The methods train side by side, each process with the same fixed number
of threads (``--threads``, default 1), so the figures do not depend on the machine's core count.
S-Seg+ (``sseg+``) follows S-Seg in its process chain: pseudo-labels, then self-training. With
S-Seg+, the first seed also trains the ground-truth oracle (``ovseg.bench.ground_truth_oracle``) in
a chain of its own, once S-Seg has recorded its training scenes and a core is free.

With several seeds (``--seed 0 1 2``) every method also trains once per further seed, into
``seed-<N>/<method>/``: the seed changes the initialisation and the order and augmentation of the
training pairs, not the scenes. The report's main figures and pictures are the first seed's; the
spread over seeds (each seed's mIoU, mean ± standard deviation) is a table of its own.
"""

from __future__ import annotations

import os
import shlex
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import yaml

from ovseg.bench import ground_truth_oracle
from ovseg.bench.budget import budget_statement, method_budget
from ovseg.bench.inputs import BenchInputError
from ovseg.bench.jobs import Chain, Step, read_result, run_chains
from ovseg.bench.oracle_levels import synthetic_oracles
from ovseg.bench.pictures import draw_pictures
from ovseg.bench.results import display_name, method_entry
from ovseg.bench.self_training import ALIAS as SELF_TRAINING
from ovseg.bench.self_training import FOLDER as SELF_TRAINING_FOLDER
from ovseg.bench.self_training import RECIPE as SELF_TRAINING_RECIPE
from ovseg.bench.self_training import TEACHER, self_training_steps
from ovseg.compute_threads import compute_threads
from ovseg.evaluation.protocols import get_protocol

REPO = Path(__file__).resolve().parents[2]
RECIPE = "experiments/{method}/tiny_cpu.yaml"
IMAGE_TEXT_METHODS = ("segclip", "sseg")  # trained on the synthetic pairs; S-Seg+ comes after S-Seg


@dataclass(frozen=True)
class SyntheticPlan:
    recipes: dict[str, Path]  # method alias → its tiny recipe
    steps: int | None  # None: each recipe's own length
    seeds: tuple[int, ...]  # the first one's runs give the report's main figures and pictures
    eval_images: int
    grid: int
    protocol: str
    lightning_args: list[str]  # for the image-text methods (not S-Seg+'s self-training)
    threads: int  # compute threads of every method's process


def plan_synthetic(args) -> SyntheticPlan:
    """Check the methods, recipes, protocol and threads before any work."""
    recipes = {}
    for method in args.methods:
        if method == SELF_TRAINING:
            if TEACHER not in args.methods:
                raise BenchInputError(
                    f"--methods {SELF_TRAINING} self-trains on {TEACHER}'s labels: add {TEACHER}."
                )
            recipes[method] = REPO / SELF_TRAINING_RECIPE
            continue
        if method not in IMAGE_TEXT_METHODS:
            valid = ", ".join([*IMAGE_TEXT_METHODS, SELF_TRAINING])
            raise BenchInputError(f"--methods {method}: unknown method. Valid methods: {valid}.")
        recipe = REPO / RECIPE.format(method=method)
        if not recipe.is_file():
            raise BenchInputError(f"--methods {method}: its tiny recipe {recipe} is missing.")
        recipes[method] = recipe
    if SELF_TRAINING in recipes:  # last: it follows its teacher, and the report lists it after
        recipes[SELF_TRAINING] = recipes.pop(SELF_TRAINING)
    get_protocol(args.protocol)
    if args.steps is not None and args.steps < 1:
        raise BenchInputError(f"--steps must be at least 1, got {args.steps}.")
    if args.threads < 1:
        raise BenchInputError(f"--threads must be at least 1, got {args.threads}.")
    seeds = tuple(args.seed)
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise BenchInputError(f"--seed takes distinct seeds of at least 0, got {' '.join(map(str, seeds))}.")
    return SyntheticPlan(
        recipes,
        args.steps,
        seeds,
        args.eval_images,
        args.grid,
        args.protocol,
        shlex.split(args.lightning_args or ""),
        args.threads,
    )


def _method_args(plan: SyntheticPlan, seed: int) -> list[str]:
    """``method_run`` arguments every method of one seed shares: seed, evaluation, steps, protocol."""
    return [
        "--seed", str(seed), "--eval-limit", str(plan.eval_images), "--grid", str(plan.grid),
        *(["--steps", str(plan.steps)] if plan.steps is not None else []),
        "--protocol", plan.protocol,
    ]  # fmt: skip


def seed_folder(plan: SyntheticPlan, folder: Path, seed: int) -> Path:
    """Where one seed's method folders go: the run folder for the first seed, else ``seed-<N>/``."""
    return folder if seed == plan.seeds[0] else folder / f"seed-{seed}"


def _chains(plan: SyntheticPlan, folder: Path) -> list[Chain]:
    """One chain per trained method and seed, the first seed's first; S-Seg+ continues S-Seg's
    chain once its checkpoint exists. Further seeds' chains wait in the queue longest first (S-Seg
    with S-Seg+ before SegCLIP), so that a short chain, not a long one, ends the run."""
    length = f"{plan.steps} steps" if plan.steps is not None else "its recipe's length"
    chains = []
    for seed in plan.seeds:
        where = seed_folder(plan, folder, seed)
        suffix = "" if seed == plan.seeds[0] else f" (seed {seed})"
        for method, recipe in plan.recipes.items():
            if method == SELF_TRAINING:
                continue
            out = where / method
            args = [
                "--recipe", str(recipe), "--out", str(out), *_method_args(plan, seed), *plan.lightning_args,
            ]  # fmt: skip
            what = f"training {display_name(method)} for {length}{suffix}"
            chains.append(
                Chain(method + suffix, [Step(what, "ovseg.bench.method_run", args, out / "train.log")])
            )
            if method == TEACHER and SELF_TRAINING in plan.recipes:
                chains[-1].plan_next = partial(
                    _named_steps,
                    suffix,
                    partial(
                        self_training_steps,
                        out,
                        where / SELF_TRAINING_FOLDER,
                        plan.recipes[SELF_TRAINING],
                        plan.protocol,
                        _method_args(plan, seed),
                    ),
                )
    first_seed = _trained_per_seed(plan)
    oracle = [_ground_truth_chain(plan, folder)] if SELF_TRAINING in plan.recipes else []
    return (
        chains[:first_seed] + oracle + sorted(chains[first_seed:], key=lambda chain: chain.plan_next is None)
    )


def _ground_truth_chain(plan: SyntheticPlan, folder: Path) -> Chain:
    """The first seed's ground-truth oracle: it waits for S-Seg's result (its training scenes)."""
    teacher_out = folder / TEACHER
    return Chain(
        "ground-truth oracle",
        [],
        plan_next=partial(
            ground_truth_oracle.ground_truth_steps,
            teacher_out,
            folder / ground_truth_oracle.FOLDER,
            plan.recipes[SELF_TRAINING],
            _method_args(plan, plan.seeds[0]),
        ),
        ready=(teacher_out / "result.json").is_file,
    )


def _named_steps(suffix: str, plan_steps: Callable[[], list[Step]]) -> list[Step]:
    """The planned steps, each described with the seed suffix (empty for the first seed)."""
    return [replace(step, what=step.what + suffix) for step in plan_steps()]


def _trained_per_seed(plan: SyntheticPlan) -> int:
    """How many chains one seed has: a chain per method trained on the pairs (S-Seg+ is in S-Seg's)."""
    return sum(method != SELF_TRAINING for method in plan.recipes)


def concurrent_chains(plan: SyntheticPlan) -> int:
    """How many chains run at once: one seed's methods always side by side; further seeds' runs
    fill the machine's cores (``threads`` each) without sharing them, so the timings stay fair."""
    return max(_trained_per_seed(plan), (os.cpu_count() or 1) // plan.threads)


def seed_spread(plan: SyntheticPlan, folder: Path) -> dict[str, dict]:
    """Per method (display name): each seed's mIoU, aAcc, naming mIoU (background ignored) and
    recognition AUC (see ``ovseg.bench.naming``) on the synthetic split, with mean and standard
    deviation (n − 1)."""
    spread = {}
    for method in plan.recipes:
        runs = [read_result(_out_of(method, seed_folder(plan, folder, seed))) for seed in plan.seeds]
        entry: dict = {"seeds": list(plan.seeds)}
        figures = {
            "mIoU": [run["eval"]["metrics"]["mIoU"] for run in runs],
            "aAcc": [run["eval"]["metrics"]["aAcc"] for run in runs],
            "naming_mIoU": [(run.get("naming") or {}).get("mIoU") for run in runs],
            "recognition_auc": [(run.get("naming") or {}).get("recognition_auc") for run in runs],
        }
        for key, values in figures.items():
            complete = None not in values  # a figure some run lacks gets no mean
            entry[key] = values
            entry[f"{key}_mean"] = statistics.fmean(values) if complete else None
            entry[f"{key}_std"] = statistics.stdev(values) if complete and len(values) > 1 else None
        spread[display_name(method)] = entry
    return spread


def _recipe_evaluation_data(recipe: Path) -> tuple[int, int]:
    """(image size, data seed) of a recipe's data module (64 and 0 when it sets none): the synthetic
    scenes its method is scored on. ``--seed`` seeds the training, not these scenes."""
    data = yaml.safe_load(recipe.read_text()).get("data", {}).get("init_args", {})
    return int(data.get("image_size", 64)), int(data.get("seed", 0))


def _out_of(method: str, folder: Path) -> Path:
    return folder / (SELF_TRAINING_FOLDER if method == SELF_TRAINING else method)


def run_synthetic(plan: SyntheticPlan, folder: Path) -> dict:
    """Train and score every method into ``folder/<method>/`` (further seeds: ``seed-<N>/<method>/``),
    side by side; returns the report's figures."""
    oracles: dict[str, float] = {}
    assumed = (plan.eval_images, *_recipe_evaluation_data(next(iter(plan.recipes.values()))))

    def compute_oracles(images: int, image_size: int, data_seed: int) -> None:
        oracles.clear()
        with compute_threads(plan.threads):  # the methods' thread count, beside them
            oracles.update(synthetic_oracles(images, image_size, data_seed, plan.recipes.get(TEACHER)))

    oracles_meanwhile = partial(compute_oracles, *assumed)  # in this process, while the methods train
    run_chains(_chains(plan, folder), plan.threads, oracles_meanwhile, concurrent_chains(plan))
    results = {method: read_result(_out_of(method, folder)) for method in plan.recipes}
    entries = {display_name(m): method_entry(r) for m, r in results.items()}
    if SELF_TRAINING in results:
        entries[display_name(SELF_TRAINING)]["teacher"] = display_name(TEACHER)
    dataset = next(iter(next(iter(entries.values()))["results"]))  # the synthetic split
    budgets = {name: method_budget(entry) for name, entry in entries.items()}
    first = next(iter(results.values()))
    first_entry = next(iter(entries.values()))
    data = first["train"]["data"]
    evaluated = (first_entry["results"][dataset]["num_images"], data["image_size"], data["seed"])
    if evaluated != assumed:  # fewer evaluation images, or another size or data seed (--lightning-args)
        compute_oracles(*evaluated)
    if SELF_TRAINING in results:
        ground_truth = read_result(folder / ground_truth_oracle.FOLDER)
        oracles[ground_truth_oracle.KEY] = ground_truth["eval"]["metrics"]["mIoU"]
    pictures = draw_pictures(
        folder,
        [dataset],
        entries,
        {display_name(m): _out_of(m, folder) / "predictions.npz" for m in results},
        {display_name(m): r["train"]["loss_curve"] for m, r in results.items()},
    )
    return {
        "mode": "synthetic",
        "protocol": plan.protocol,
        "datasets": [dataset],
        "seed": plan.seeds[0],
        "seeds": list(plan.seeds),
        "seed_spread": seed_spread(plan, folder) if len(plan.seeds) > 1 else None,
        "threads_per_method": plan.threads,
        "budget": {"per_method": budgets, "statement": budget_statement(budgets, trained=True)},
        "chance": {dataset: first["chance"]},
        "oracle": {dataset: oracles},
        "methods": entries,
        "pictures": pictures,
        "note": "Every method: the same synthetic pairs (seed), steps and evaluation; budgets below."
        + (" S-Seg+ self-trains on S-Seg's labels of those scenes." if SELF_TRAINING in results else ""),
    }
