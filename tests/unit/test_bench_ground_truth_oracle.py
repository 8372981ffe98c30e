"""The ground-truth oracle's labels: the synthetic scenes' own masks, as a pseudo-label folder."""

from __future__ import annotations

import numpy as np
import pytest

from ovseg.bench import ground_truth_oracle
from ovseg.bench.ground_truth_oracle import main, write_ground_truth_labels
from ovseg.data.pseudo_label_data import PseudoLabelDataModule
from ovseg.data.synthetic import render_scene
from ovseg.pseudo_label import read_label_png, read_manifest


def test_the_labels_are_the_scenes_masks_and_selftrain_reads_them(tmp_path):
    out = tmp_path / "labels"
    manifest = write_ground_truth_labels(out, num_images=5, image_size=64, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels"]  # no temporary folder left
    assert read_manifest(out) == manifest and manifest["count"] == 5 and manifest["seed"] == 2
    ignored = 0
    for index in range(5):
        labels = read_label_png(out / f"synthetic-2-{index:08d}.png")  # (64, 64)
        np.testing.assert_array_equal(labels, render_scene(2, index, "train", 64).mask)
        ignored += int((labels == 255).sum())
    assert ignored > 0  # object edges stay ignored, as in the evaluation masks
    data = PseudoLabelDataModule(pseudo_labels=str(out), image_size=64, batch_size=2, num_workers=0)
    train = data.train_set()
    assert len(train) == 5 and data.spec.name == "synthetic"
    item = train[0]
    assert item["image"].shape == (3, 64, 64) and set(item["label"].unique().tolist()) <= {*range(9), 255}


def test_an_existing_folder_is_refused_and_a_failure_leaves_nothing(tmp_path, monkeypatch):
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="taken exists already"):
        write_ground_truth_labels(tmp_path / "taken", 2, 64, 0)

    def failing(seed, index, split, size):
        if index == 2:
            raise RuntimeError("disk full")
        return render_scene(seed, index, split, size)

    monkeypatch.setattr(ground_truth_oracle, "render_scene", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        write_ground_truth_labels(tmp_path / "labels", 4, 64, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_the_command_checks_its_count(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "x"), "--num-images", "0"])
    assert exit_info.value.code == 2 and "--num-images must be at least 1" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "x"), "--num-images", "2", "--image-size", "32", "--seed", "1"]) == 0
    assert read_manifest(tmp_path / "x")["image_size"] == 32
    assert read_label_png(tmp_path / "x" / "synthetic-1-00000001.png").shape == (32, 32)
