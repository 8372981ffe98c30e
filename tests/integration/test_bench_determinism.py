"""Same seed, same benchmark figures: each method's run repeated gives the same losses and mIoU."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovseg.bench.method_run import run_method

REPO = Path(__file__).resolve().parents[2]
# small batches, but the recipe's dataloader workers kept on: worker seeding is part of what is checked
OVERRIDES = ["--data.batch_size", "4", "--data.num_workers", "2", "--data.synthetic_length", "64"]


@pytest.mark.parametrize("method", ["segclip", "sseg"])
def test_two_runs_with_the_same_seed_agree(method, tmp_path):
    recipe = str(REPO / "experiments" / method / "tiny_cpu.yaml")
    first, second = (
        run_method(recipe, tmp_path / name, steps=3, seed=7, eval_limit=4, grid=1, extra=OVERRIDES)
        for name in ("a", "b")
    )
    assert len(first["train"]["loss_curve"]) == 3
    assert first["train"]["loss_curve"] == second["train"]["loss_curve"]
    assert first["eval"]["metrics"]["mIoU"] == second["eval"]["metrics"]["mIoU"]
    assert first["eval"]["metrics"]["IoU"] == second["eval"]["metrics"]["IoU"]
    # the confidence ceiling of the trained model on the 8 synthetic classes, at the 0.95 threshold
    ceiling = first["ceilings"]["synthetic"]
    assert len(ceiling["per_class"]) == 8 and ceiling["bg_threshold"] == 0.95
    assert first["ceilings"] == second["ceilings"]
    assert all(0.125 <= value <= 1.0 for value in ceiling["per_class"].values())
    # naming without background: the 8 categories, background ignored, the same in both runs
    assert first["naming"] == second["naming"] and len(first["naming"]["IoU"]) == 8
    assert 0.0 <= first["naming"]["mIoU"] <= 100.0
