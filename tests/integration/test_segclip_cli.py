"""SegCLIP end to end through the ``ovseg`` command: fit the tiny recipe, the loss falls, test it."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ovseg.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "experiments" / "segclip" / "tiny_cpu.yaml")


def _scalars(run: Path, tag: str) -> list[float]:
    (events,) = run.glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return [event.value for event in accumulator.Scalars(tag)]


def test_fit_tiny_recipe_then_test_the_checkpoint(tmp_path, capsys):
    root = tmp_path / "runs"
    common = ["--model", "segclip", "-c", TINY, "--trainer.default_root_dir", str(root)]
    main(
        [
            "fit",
            *common,
            "--trainer.max_steps",
            "20",
            "--trainer.log_every_n_steps",
            "1",
            "--trainer.num_sanity_val_steps",
            "0",
            "--data.batch_size",
            "16",
            "--data.val_limit",
            "8",
        ]
    )
    (run,) = (root / "lightning_logs").iterdir()
    losses = _scalars(run, "train/loss")
    assert len(losses) == 20
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, losses  # the loss falls
    for term in ("contrastive", "reconstruction", "superpixel"):  # every term is logged on its own
        assert len(_scalars(run, f"train/loss_{term}")) == 20
    (checkpoint,) = (run / "checkpoints").glob("*.ckpt")

    # the architecture comes back from the checkpoint (no -c: no recipe is added next to a checkpoint);
    # the evaluation settings from the command line
    test = [
        "test",
        "--model",
        "segclip",
        "--data",
        "synthetic",
        "--ckpt",
        str(checkpoint),
        "--data.val_limit",
        "8",
    ]
    main([*test, "--model.bg_threshold", "0.5", "--trainer.default_root_dir", str(root)])
    assert "mIoU" in capsys.readouterr().out
    (result_path,) = root.rglob("test_synthetic_groupvit.json")
    result = json.loads(result_path.read_text())
    assert result["model"] == "SegCLIP"
    assert result["dataset"]["num_images"] == 8
    assert result["checkpoint"] == str(checkpoint)
    assert result["protocol"]["bg_threshold"] == 0.5
    assert 0.0 <= result["metrics"]["mIoU"] <= 100.0


def test_released_checkpoint_evaluates_on_voc_under_the_segclip_protocol(tmp_path, capsys):
    """A file in the released key layout goes in through --model.weights (what --ckpt maps to)."""
    from ovseg.methods.segclip import SegCLIP
    from ovseg.methods.segclip.checkpoint import to_released
    from tests.support.datasets import write_voc

    torch.manual_seed(0)
    config = yaml.safe_load(Path(TINY).read_text())["model"]["init_args"]
    weights = tmp_path / "segclip.bin"
    torch.save(to_released(SegCLIP(**config).model.state_dict()), weights)
    write_voc(tmp_path / "data", [(60, 80), (97, 50), (230, 300)], seed=1)
    main(
        [
            "test",
            "-c",
            TINY,
            "--model.weights",
            str(weights),
            "--data",
            "voc",
            "--data-root",
            str(tmp_path / "data"),
            "--data.num_workers",
            "0",
            "--protocol",
            "segclip",
            "--trainer.default_root_dir",
            str(tmp_path / "runs"),
        ]
    )
    assert "aeroplane" in capsys.readouterr().out
    (path,) = (tmp_path / "runs").rglob("test_voc_segclip.json")
    result = json.loads(path.read_text())
    protocol = result["protocol"]
    assert (protocol["short_side"], protocol["crop"], protocol["stride"]) == (224, 224, 224)
    assert protocol["top_k_classes"] == 5 and protocol["bg_threshold"] == 0.8
    assert protocol["class_filter"] == {"top_k": 5, "combine": "product"}
    assert protocol["background_rule"] == "window"
    assert result["dataset"]["num_images"] == 3 and len(result["metrics"]["IoU"]) == 21
