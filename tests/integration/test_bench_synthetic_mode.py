"""Synthetic mode of ``make bench`` end to end, a few steps of each tiny recipe (slow: two processes)."""

from __future__ import annotations

import json

import pytest

from ovseg.bench.oracle_levels import synthetic_oracles
from ovseg.bench.program import REPO, main


@pytest.mark.slow
def test_synthetic_mode_trains_both_methods_and_writes_the_whole_report(tmp_path):
    lightning = "--data.batch_size 4 --data.num_workers 0 --data.synthetic_length 32"
    argv = [
        "--steps",
        "2",
        "--eval-images",
        "6",
        "--grid",
        "2",
        "--seed",
        "3",
        "4",
        "--lightning-args",
        lightning,
    ]
    assert main([*argv, "--out", str(tmp_path), "--run", "s"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["s"]
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    assert report["mode"] == "synthetic" and report["datasets"] == ["synthetic"]
    assert set(report["chance"]["synthetic"]) == {"all_background", "uniform"}
    # upper bounds on the same 6 scenes the methods were scored on: --seed seeds training, not the scenes
    oracles = dict(report["oracle"]["synthetic"])
    ground_truth = oracles.pop("ground_truth")
    assert oracles == synthetic_oracles(6, 64, 0, REPO / "experiments/sseg/tiny_cpu.yaml")
    assert set(oracles) == {"pixel", "felzenszwalb", "hue"}
    assert "oracle: S-Seg's pixel K-Means pseudo-masks" in (tmp_path / "s" / "report.md").read_text()
    assert "oracle: true masks, each object named by its hue" in (tmp_path / "s" / "report.md").read_text()
    # the ground-truth oracle: S-Seg+'s recipe and steps, first seed only, on S-Seg's 32 scenes' masks
    oracle_run = json.loads((tmp_path / "s" / "oracle_ground_truth" / "result.json").read_text())
    assert ground_truth == oracle_run["eval"]["metrics"]["mIoU"] and oracle_run["train"]["steps"] == 2
    assert len(list((tmp_path / "s" / "oracle_ground_truth" / "labels").glob("*.png"))) == 32
    assert not (tmp_path / "s" / "seed-4" / "oracle_ground_truth").exists()
    assert "oracle: S-Seg+'s recipe on ground-truth labels" in (tmp_path / "s" / "report.md").read_text()
    assert list(report["methods"]) == ["SegCLIP", "S-Seg", "S-Seg+"] and report["threads_per_method"] == 1
    for name, entry in report["methods"].items():
        images = 32 if name == "S-Seg+" else 8  # S-Seg+: the selftrain recipe's batch of 16
        assert entry["train"]["steps"] == 2 and entry["train"]["images"] == images
        assert entry["results"]["synthetic"]["num_images"] == 6 and entry["threads"] == 1
    assert report["methods"]["S-Seg+"]["teacher"] == "S-Seg"
    assert report["methods"]["S-Seg+"]["ceilings"] == {"synthetic": None}  # closed-vocabulary: no softmax
    ceilings = [report["methods"][name]["ceilings"]["synthetic"] for name in ("SegCLIP", "S-Seg")]
    assert all(len(ceiling["per_class"]) == 8 for ceiling in ceilings)
    assert "## Confidence ceiling" in (tmp_path / "s" / "report.md").read_text()
    # every method, S-Seg+ included, is also scored naming the objects with the background ignored
    assert all(len(entry["naming"]["IoU"]) == 8 for entry in report["methods"].values())
    # beside it, the background's IoU and recall, from the main result's confusion matrix
    assert all(len(entry["results"]["synthetic"]["Acc"]) == 9 for entry in report["methods"].values())
    assert "## Naming without background" in (tmp_path / "s" / "report.md").read_text()
    # S-Seg+ labelled exactly S-Seg's 32 training scenes
    assert len(list((tmp_path / "s" / "sseg_plus" / "pseudo_labels").rglob("*.png"))) == 32
    statement = report["budget"]["statement"]
    assert statement.startswith("Same budget for every method: 2 optimisation steps")
    assert "S-Seg+ starts from S-Seg's labels of the training scenes and adds 2 steps" in statement
    # the second seed: every method again, S-Seg+ included, in seed-4/; the spread of each method
    assert report["seed"] == 3 and report["seeds"] == [3, 4]
    assert len(list((tmp_path / "s" / "seed-4" / "sseg_plus" / "pseudo_labels").rglob("*.png"))) == 32
    for name, folder in (("SegCLIP", "segclip"), ("S-Seg", "sseg"), ("S-Seg+", "sseg_plus")):
        spread = report["seed_spread"][name]
        first, second = (
            json.loads((tmp_path / "s" / sub / folder / "result.json").read_text()) for sub in (".", "seed-4")
        )
        assert spread["seeds"] == [3, 4] and spread["mIoU"] == [
            first["eval"]["metrics"]["mIoU"],
            second["eval"]["metrics"]["mIoU"],
        ]
        assert spread["naming_mIoU"] == [first["naming"]["mIoU"], second["naming"]["mIoU"]]
        auc = [first["naming"]["recognition_auc"], second["naming"]["recognition_auc"]]
        assert spread["recognition_auc"] == auc and (name == "S-Seg+") == (auc == [None, None])
        assert (
            report["methods"][name]["results"]["synthetic"]["mIoU"] == spread["mIoU"][0]
        )  # main table: seed 3
    assert "## Spread over seeds" in (tmp_path / "s" / "report.md").read_text()
    assert set(report["pictures"]) == {"predictions", "per_class_iou_synthetic", "training_loss"}
    assert all((tmp_path / "s" / name).is_file() for name in report["pictures"].values())
    assert main([*argv, "--out", str(tmp_path), "--run", "s"]) == 2  # a run is never overwritten
