"""One method's part of the benchmark, in a process of its own: train its recipe, evaluate, measure.

Run by ``benchmarks/bench.py`` as ``python -m ovseg.bench.method_run --recipe R --out DIR ...`` so
that each method's peak memory and random state are its own. Writes ``DIR/result.json`` (figures
and the evaluation record) and ``DIR/predictions.npz`` (label maps of the first evaluation images).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ovseg.cli import alias_help
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
def first_predictions(model, datamodule, count: int) -> dict[str, np.ndarray]:
    """Images, ground truth and predicted label maps of the first ``count`` evaluation images."""
    model.eval()
    images, labels, preds = [], [], []
    for batch in datamodule.test_dataloader():
        if len(images) >= count:
            break
        image, label = batch["image"].to(model.device), batch["label"]  # (1, 3, H, W), (1, H, W)
        pred = model.predict_labels(model.normalize(image), tuple(label.shape[-2:]))  # (1, H, W)
        images.append(batch["image"][0].permute(1, 2, 0).numpy())
        labels.append(label[0].numpy())
        preds.append(pred[0].cpu().numpy())
    return {"images": np.stack(images), "labels": np.stack(labels), "predictions": np.stack(preds)}


def run_method(
    recipe: str, out: Path, steps: int, seed: int, eval_limit: int, grid: int, extra: list[str]
) -> dict:
    """Train ``recipe`` for ``steps`` optimisation steps, then evaluate it; returns the figures."""
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "-c", recipe,
        "--seed_everything", str(seed),
        "--trainer.max_steps", str(steps),
        "--trainer.max_epochs", "-1",
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
    np.savez_compressed(out / "predictions.npz", **first_predictions(cli.model, cli.datamodule, grid))
    result = {
        "recipe": recipe,
        "model": type(cli.model).__name__,
        "parameters": parameter_counts(cli.model),
        "train": {
            "steps": cli.trainer.global_step,
            "images": recorder.images,
            "seconds": round(recorder.seconds, 2),
            "images_per_s": round(recorder.images / max(recorder.seconds, 1e-9), 2),
            "loss_curve": recorder.losses,
        },
        "eval": record,
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
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-limit", type=int, default=256)
    parser.add_argument("--grid", type=int, default=6, help="evaluation images kept for the picture")
    parser.add_argument(
        "extra", nargs="*", help="more LightningCLI overrides, e.g. --trainer.accelerator=gpu"
    )
    args = parser.parse_args(argv)
    run_method(args.recipe, args.out, args.steps, args.seed, args.eval_limit, args.grid, args.extra)


if __name__ == "__main__":
    main()
