"""S-Seg+ end to end through ``ovseg``: pseudo-label with S-Seg, fit SelfTrain on them, test it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ovseg import export_cli
from ovseg.cli import main
from ovseg.data.pseudo_label_data import PseudoLabelDataModule
from ovseg.errors import OvsegUserError
from ovseg.pseudo_label import pseudo_label_folder
from tests.support.datasets import write_voc
from tests.support.tiny_runs import fit_one_step

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "experiments" / "selftrain" / "tiny_cpu.yaml"
QUIET = ["--data.num_workers", "0", "--trainer.enable_progress_bar", "false"]


pytestmark = pytest.mark.usefixtures("one_compute_thread")


@pytest.fixture(scope="module")
def sseg_checkpoint(tmp_path_factory) -> Path:
    """A tiny S-Seg trained for one step."""
    (checkpoint,) = fit_one_step("sseg", tmp_path_factory.mktemp("sseg")).rglob("*.ckpt")
    return checkpoint


@pytest.fixture(scope="module")
def pseudo_labels(sseg_checkpoint, tmp_path_factory) -> Path:
    """Its pseudo-labels of 8 synthetic training scenes."""
    folder = tmp_path_factory.mktemp("selftrain") / "pl"
    pseudo_label_folder(sseg_checkpoint, "synthetic", folder, num_images=8, bg_threshold=0.5)
    return folder


def logged(run: Path, tag: str) -> list[float]:
    (events,) = run.rglob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return [event.value for event in accumulator.Scalars(tag)]


def score_on_synthetic(checkpoint: Path, results: Path) -> dict:
    """``ovseg test --model selftrain`` of ``checkpoint`` on 4 synthetic images; its result JSON."""
    main(
        ["test", "--model", "selftrain", "--ckpt", str(checkpoint), "--data", "synthetic",
         "--data.val_limit", "4", "--model.results_dir", str(results),
         "--trainer.default_root_dir", str(results), *QUIET]
    )  # fmt: skip
    return json.loads((results / "test_synthetic_groupvit.json").read_text())


def test_fit_the_tiny_recipe_then_test_writes_the_result(pseudo_labels, tmp_path, capsys):
    runs = tmp_path / "runs"
    main(
        ["fit", "--model", "selftrain", "--data.pseudo_labels", str(pseudo_labels),
         "--trainer.max_steps", "3", "--trainer.limit_val_batches", "0", "--data.batch_size", "4",
         "--trainer.default_root_dir", str(runs), *QUIET]
    )  # fmt: skip
    assert f"using the tiny CPU recipe {RECIPE}" in capsys.readouterr().err  # no -c: the tiny recipe
    (checkpoint,) = runs.rglob("*.ckpt")
    result = score_on_synthetic(checkpoint, tmp_path / "results")
    assert result["model"] == "SelfTrain" and result["dataset"]["num_images"] == 4
    assert result["protocol"]["background_rule"] == "argmax" and result["protocol"]["bg_threshold"] is None
    assert 0.0 <= result["metrics"]["mIoU"] <= 100.0
    exported = tmp_path / "selftrain.safetensors"
    assert export_cli.main(["--ckpt", str(checkpoint), "--out", str(exported)]) == 0
    assert "ovseg test --model selftrain" in capsys.readouterr().out
    from_export = score_on_synthetic(exported, tmp_path / "from_export")
    assert from_export["metrics"]["mIoU"] == pytest.approx(result["metrics"]["mIoU"], abs=1e-9)


def test_loss_falls_on_fixed_data(pseudo_labels, tmp_path):
    runs = tmp_path / "runs"
    fixed = ["--data.scale_range", "[1.0, 1.0]", "--data.flip", "false", "--data.batch_size", "8"]
    main(
        ["fit", "--model", "selftrain", "-c", str(RECIPE), "--data.pseudo_labels", str(pseudo_labels), *fixed,
         "--trainer.max_steps", "30", "--trainer.limit_val_batches", "0", "--trainer.log_every_n_steps", "1",
         "--model.warmup_steps", "3", "--model.lr", "0.003", "--trainer.default_root_dir", str(runs), *QUIET]
    )  # fmt: skip
    losses = logged(runs, "train/loss")
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
    assert logged(runs, "train/loss_aux")


def test_user_errors(pseudo_labels, tmp_path, capsys):
    def run(args: list[str]) -> str:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        return out.err

    common = ["--trainer.default_root_dir", str(tmp_path / "runs")]
    assert "--data.pseudo_labels DIR" in run(["fit", "--model", "selftrain", *common])
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    assert "has not finished" in run(
        ["fit", "--model", "selftrain", "--data.pseudo_labels", str(unfinished), *common]
    )
    main(
        ["fit", "--model", "selftrain", "--data.pseudo_labels", str(pseudo_labels),
         "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0", "--data.batch_size", "4",
         *common, *QUIET]
    )  # fmt: skip
    (checkpoint,) = (tmp_path / "runs").rglob("*.ckpt")
    message = run(["test", "--model", "selftrain", "--ckpt", str(checkpoint), "--data", "voc20", *common])
    assert "trained for" in message and "dataset 'voc20'" in message


def test_voc_pseudo_labels_make_training_batches(sseg_checkpoint, tmp_path):
    root = tmp_path / "data"
    write_voc(root, [(40, 56), (48, 40), (36, 36)], seed=3, split="val")  # the evaluation split
    write_voc(root, [(40, 56), (48, 40), (36, 36)], seed=4, split="train")  # same ids, train.txt
    folder = tmp_path / "pl"
    pseudo_label_folder(sseg_checkpoint, "voc", folder, data_root=root, bg_threshold=0.5)
    data = PseudoLabelDataModule(str(folder), image_size=32, batch_size=2, num_workers=0)
    assert data.spec.name == "voc" and data.data_root == str(root.resolve())  # from the manifest
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (2, 3, 32, 32) and batch["image"].dtype == torch.uint8
    assert batch["label"].shape == (2, 32, 32) and batch["label"].dtype == torch.int64
    values = set(batch["label"].unique().tolist())
    assert values <= set(range(21)) | {255}
    assert len(data.val_dataloader()) == 3
    (root / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_000001.jpg").unlink()
    with pytest.raises(OvsegUserError, match="not under"):
        PseudoLabelDataModule(str(folder), num_workers=0).check_data()
