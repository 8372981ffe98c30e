"""S-Seg end to end through the real ``ovseg`` command: fit, test, and the pseudo-mask cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ovseg import prepare_cli
from ovseg.cli import main
from ovseg.nn.dino import DinoFeatures

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "experiments" / "sseg" / "tiny_cpu.yaml")


pytestmark = pytest.mark.usefixtures("one_compute_thread")


def logged(run: Path, tag: str) -> list[float]:
    (events,) = run.rglob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return [event.value for event in accumulator.Scalars(tag)]


def test_fit_on_synthetic_pairs_lowers_the_loss_and_test_writes_a_result(tmp_path):
    runs = tmp_path / "runs"
    common = ["--data.num_workers", "0", "--data.val_limit", "4", "--trainer.default_root_dir", str(runs)]
    steps = [
        "--trainer.max_steps",
        "40",
        "--trainer.val_check_interval",
        "40",
        "--trainer.log_every_n_steps",
        "1",
    ]
    main(["fit", "--model", "sseg", "-c", TINY, *steps, *common])
    losses = logged(runs, "train/loss")
    assert len(losses) == 40
    assert sum(losses[-8:]) / 8 < 0.85 * sum(losses[:8]) / 8, losses
    for tag in ("train/loss_dice", "train/loss_focal", "train/loss_dice_0", "train/loss_contrastive"):
        assert logged(runs, tag), tag
    (checkpoint,) = runs.rglob("*.ckpt")
    results = tmp_path / "results"
    overrides = ["--model.bg_threshold", "0.5", "--model.results_dir", str(results)]
    overrides += ["--model.bg_rule", "constant", "--model.top_k_classes", "0"]
    # no -c: the architecture comes from the checkpoint (and no recipe is added next to one)
    main(["test", "--model", "sseg", "--data", "synthetic", "--ckpt", str(checkpoint), *overrides, *common])
    result = json.loads((results / "test_synthetic_groupvit.json").read_text())
    assert result["model"] == "SSeg" and result["dataset"]["num_images"] == 4
    assert result["protocol"]["bg_threshold"] == 0.5  # the command line wins over the checkpoint
    assert result["protocol"]["background_rule"] == "constant" and result["protocol"]["class_filter"] is None
    assert 0.0 <= result["metrics"]["mIoU"] <= 100.0


def test_prepare_pseudo_masks_then_train_from_the_cache(tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "dino.safetensors"
    save_file(
        {k: v.contiguous() for k, v in DinoFeatures(pretrained=False).vit.state_dict().items()}, str(weights)
    )
    cache = tmp_path / "cache"
    args = ["pseudo-masks", "--source", "synthetic", "--length", "6", "--image-size", "64", "--seed", "0",
            "--cache", str(cache), "--dino-weights", str(weights), "--k", "3", "--short-side", "64",
            "--workers", "0", "--no-progress", "--device", "cpu"]  # fmt: skip
    assert prepare_cli.main(args) == 0
    assert "6 written, 0 already there" in capsys.readouterr().out
    assert len(list(cache.rglob("*.npz"))) == 6 and (cache / "params.json").is_file()
    assert prepare_cli.main(args) == 0  # resumable: everything is already there
    assert "0 written, 6 already there" in capsys.readouterr().out
    runs = tmp_path / "runs"
    cached = ["--model.pseudo_mask_cache", str(cache), "--model.pseudo_mask_k", "3"]
    data = ["--data.synthetic_length", "6", "--data.batch_size", "3", "--data.num_workers", "0"]
    trainer = [
        "--trainer.max_steps",
        "2",
        "--trainer.log_every_n_steps",
        "1",
        "--trainer.default_root_dir",
        str(runs),
    ]
    main(["fit", "--model", "sseg", "-c", TINY, *cached, *data, "--data.val_dataset", "null", *trainer])
    per_image = logged(runs, "train/pseudo_masks_per_image")
    assert len(per_image) == 2 and all(1 <= value <= 3 for value in per_image)
