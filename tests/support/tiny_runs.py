"""Tiny trained runs for tests that need a real checkpoint: one optimisation step of a tiny recipe."""

from __future__ import annotations

from pathlib import Path

from ovseg.cli import main
from tests.support.threads import single_compute_thread

REPO = Path(__file__).resolve().parents[2]


def fit_one_step(method: str, runs: Path, *extra: str) -> Path:
    """Train ``experiments/<method>/tiny_cpu.yaml`` for one step (batch 2, one compute thread) into
    ``runs``, with ``extra`` arguments last; returns the run's folder (``runs/lightning_logs/version_0``,
    holding its .ckpt)."""
    recipe = str(REPO / "experiments" / method / "tiny_cpu.yaml")
    with single_compute_thread():
        main(
            ["fit", "--model", method, "-c", recipe, "--trainer.max_steps", "1",
             "--trainer.limit_val_batches", "0", "--data.batch_size", "2", "--data.num_workers", "0",
             "--trainer.default_root_dir", str(runs), "--trainer.enable_progress_bar", "false", *extra]
        )  # fmt: skip
    (run,) = (runs / "lightning_logs").iterdir()
    return run


def fit_selftrain_one_step(sseg_checkpoint: Path, runs: Path) -> Path:
    """S-Seg+ in one step: ``sseg_checkpoint`` pseudo-labels 4 synthetic training scenes (threshold 0.5)
    into ``runs/pseudo_labels``, then the tiny SelfTrain recipe trains one step on them into ``runs``;
    returns the run's folder (its .ckpt predicts the synthetic benchmark's 8 classes + background)."""
    from ovseg.pseudo_label import pseudo_label_folder

    folder = runs / "pseudo_labels"
    with single_compute_thread():
        pseudo_label_folder(
            sseg_checkpoint, "synthetic", folder, num_images=4, bg_threshold=0.5, device="cpu"
        )
    return fit_one_step("selftrain", runs, "--data.pseudo_labels", str(folder))
