"""Tiny trained runs for tests that need a real checkpoint: one optimisation step of a tiny recipe."""

from __future__ import annotations

from pathlib import Path

from ovseg.cli import main
from tests.support.threads import single_compute_thread

REPO = Path(__file__).resolve().parents[2]


def fit_one_step(method: str, runs: Path) -> Path:
    """Train ``experiments/<method>/tiny_cpu.yaml`` for one step (batch 2, one compute thread) into
    ``runs``; returns the run's folder (``runs/lightning_logs/version_0``, holding its .ckpt)."""
    recipe = str(REPO / "experiments" / method / "tiny_cpu.yaml")
    with single_compute_thread():
        main(
            ["fit", "--model", method, "-c", recipe, "--trainer.max_steps", "1",
             "--trainer.limit_val_batches", "0", "--data.batch_size", "2", "--data.num_workers", "0",
             "--trainer.default_root_dir", str(runs), "--trainer.enable_progress_bar", "false"]
        )  # fmt: skip
    (run,) = (runs / "lightning_logs").iterdir()
    return run
