"""One method's part of the benchmark, in a process of its own: train its recipe, evaluate, measure.

Run by ``benchmarks/bench.py`` as ``python -m ovseg.bench.method_run --recipe R --out DIR ...`` so
that each method's peak memory and random state are its own. Writes ``DIR/result.json`` (figures,
the evaluation record and the diagnostics: confidence ceiling, naming without background),
``DIR/model.ckpt`` and ``DIR/predictions.npz`` (label maps of the first evaluation images, see
``ovseg.bench.predictions``).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch

from ovseg.bench.chance import split_chance
from ovseg.bench.naming import naming_without_background
from ovseg.bench.predictions import first_predictions, save_predictions
from ovseg.cli import alias_help
from ovseg.evaluation.confidence_ceiling import confidence_ceiling
from ovseg.evaluation.report import write_json_atomic
from ovseg.lightning_cli import run_cli


class TrainingRecorder(L.Callback):
    """Loss per optimisation step, images seen and the wall time of ``fit``."""

    def __init__(self) -> None:
        self.losses: list[tuple[int, float]] = []
        self.images = 0
        self.started = 0.0
        self.seconds = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append((trainer.global_step, float(loss)))
        self.images += int(batch["image"].shape[0])

    def on_train_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.started


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MiB), or the accelerator's peak allocation on CUDA."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    return {
        "total": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


@torch.no_grad()
def model_ceiling(model) -> dict | None:
    """The trained model's confidence ceiling on its evaluation classes, with the threshold it is
    scored at; None for a method without a softmax over class similarities (selftrain)."""
    scale = model.class_logit_scale()
    if scale is None:
        return None
    model.eval()  # the prompts as evaluation encodes them (S-Seg's projection has a BatchNorm)
    with torch.no_grad():
        embeddings = model.build_class_embeddings()  # (C, D)
    ceiling = confidence_ceiling(embeddings, scale, model.class_names)
    return {**ceiling, "bg_threshold": model.bg_threshold}


def training_data(datamodule) -> dict:
    """What the method trained on, for the report's same-data check."""
    return {
        "sources": getattr(datamodule, "source_specs", None),
        "seed": getattr(datamodule, "seed", None),
        "synthetic_length": getattr(datamodule, "synthetic_length", None),
        "image_size": getattr(datamodule, "image_size", None),
    }


def step_overrides(steps: int | None) -> list[str]:
    """Trainer overrides for exactly ``steps`` optimisation steps; None keeps the recipe's own."""
    if steps is None:
        return []
    return ["--trainer.max_steps", str(steps), "--trainer.max_epochs", "-1"]


def run_method(
    recipe: str,
    out: Path,
    steps: int | None,
    seed: int,
    eval_limit: int,
    grid: int,
    extra: Sequence[str] = (),
) -> dict:
    """Train ``recipe`` (for ``steps`` optimisation steps, or as long as the recipe says when None),
    then evaluate it on its evaluation split; returns the figures (also written to result.json)."""
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "-c", recipe,
        "--seed_everything", str(seed),
        *step_overrides(steps),
        "--trainer.limit_val_batches", "0",
        "--trainer.num_sanity_val_steps", "0",
        "--trainer.deterministic", "true",
        "--trainer.enable_checkpointing", "false",
        "--trainer.logger", "false",
        "--trainer.default_root_dir", str(out),
        "--data.val_limit", str(eval_limit),
        "--model.results_dir", str(out),
        *extra,
    ]  # fmt: skip
    cli = run_cli(args, alias_help(), run=False)
    recorder = TrainingRecorder()
    cli.trainer.callbacks.append(recorder)
    cli.trainer.fit(cli.model, cli.datamodule)
    cli.trainer.save_checkpoint(out / "model.ckpt")
    cli.trainer.test(cli.model, cli.datamodule, verbose=False)
    record = json.loads(next(out.glob("test_*.json")).read_text())
    save_predictions(out / "predictions.npz", first_predictions(cli.model, cli.datamodule, grid))
    chance = split_chance(cli.datamodule, cli.model.dataset.num_classes)
    ceiling = model_ceiling(cli.model)
    naming = naming_without_background(cli.model, cli.datamodule)
    result = {
        "recipe": recipe,
        "model": type(cli.model).__name__,
        "parameters": parameter_counts(cli.model),
        "train": {
            "steps": cli.trainer.global_step,
            "images": recorder.images,
            "batch_size": cli.datamodule.batch_size,
            "data": training_data(cli.datamodule),
            "seconds": round(recorder.seconds, 2),
            "images_per_s": round(recorder.images / max(recorder.seconds, 1e-9), 2),
            "loss_curve": recorder.losses,
        },
        "eval": record,
        "chance": chance,
        "ceilings": {record["dataset"]["name"]: ceiling},  # as checkpoint_run records it, per dataset
        "naming": naming,
        "eval_images_per_s": round(record["dataset"]["num_images"] / max(record["eval_seconds"], 1e-9), 2),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "device": str(cli.model.device),
        "threads": torch.get_num_threads(),
    }
    write_json_atomic(out / "result.json", result)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True, help="experiments/<method>/tiny_cpu.yaml")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=None, help="default: the recipe's own length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-limit", type=int, default=256)
    parser.add_argument("--grid", type=int, default=6, help="evaluation images kept for the picture")
    parser.epilog = "Any other argument is a LightningCLI override, e.g. --trainer.accelerator=gpu."
    args, extra = parser.parse_known_args(argv)
    run_method(args.recipe, args.out, args.steps, args.seed, args.eval_limit, args.grid, extra)


if __name__ == "__main__":
    main()
