"""Synthetic mode of ``make bench`` end to end, a few steps of each tiny recipe (slow: two processes)."""

from __future__ import annotations

import json

import pytest

from ovseg.bench.program import main


@pytest.mark.slow
def test_synthetic_mode_trains_both_methods_and_writes_the_whole_report(tmp_path):
    lightning = "--data.batch_size 4 --data.num_workers 0 --data.synthetic_length 32"
    argv = ["--steps", "2", "--eval-images", "6", "--grid", "2", "--lightning-args", lightning]
    assert main([*argv, "--out", str(tmp_path), "--run", "s"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["s"]
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    assert report["mode"] == "synthetic" and report["datasets"] == ["synthetic"]
    assert set(report["chance"]["synthetic"]) == {"all_background", "uniform"}
    assert set(report["oracle"]["synthetic"]) == {"pixel", "felzenszwalb"}  # upper bounds, same 6 images
    assert "oracle: S-Seg's pixel K-Means pseudo-masks" in (tmp_path / "s" / "report.md").read_text()
    for entry in report["methods"].values():
        assert entry["train"]["steps"] == 2 and entry["train"]["images"] == 8
        assert entry["results"]["synthetic"]["num_images"] == 6
    assert report["budget"]["statement"].startswith("Same budget for every method: 2 optimisation steps")
    assert set(report["pictures"]) == {"predictions", "per_class_iou_synthetic", "training_loss"}
    assert all((tmp_path / "s" / name).is_file() for name in report["pictures"].values())
    assert main([*argv, "--out", str(tmp_path), "--run", "s"]) == 2  # a run is never overwritten
