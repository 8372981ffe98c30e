"""``ovseg pseudo-label``: label PNGs + manifest, ground truth never read, resumable and atomic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ovseg.cli import main
from ovseg.pseudo_label import MANIFEST, SETTINGS, pseudo_label_folder
from tests.support.datasets import write_voc
from tests.support.tiny_runs import fit_one_step, fit_selftrain_one_step

REPO = Path(__file__).resolve().parents[2]
FAST = ["--workers", "0", "--no-progress", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("one_compute_thread")


@pytest.fixture(scope="module")
def sseg_checkpoint(tmp_path_factory) -> Path:
    """A tiny S-Seg trained for one step (its predictions are arbitrary but deterministic)."""
    (checkpoint,) = fit_one_step("sseg", tmp_path_factory.mktemp("sseg") / "runs").rglob("*.ckpt")
    return checkpoint


@pytest.fixture(scope="module")
def selftrain_checkpoint(sseg_checkpoint, tmp_path_factory) -> Path:
    """A tiny SelfTrain trained for one step on the S-Seg's synthetic pseudo-labels."""
    (checkpoint,) = fit_selftrain_one_step(sseg_checkpoint, tmp_path_factory.mktemp("selftrain")).rglob(
        "*.ckpt"
    )
    return checkpoint


def pseudo_label(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["pseudo-label", *args, *FAST])
    out = capsys.readouterr()
    return exit_info.value.code, out.out + out.err


def synthetic(checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return ["--model", "sseg", "--ckpt", str(checkpoint), "--data", "synthetic", "--out", str(out), *extra]


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_synthetic_pngs_and_manifest(sseg_checkpoint, tmp_path, capsys):
    out = tmp_path / "pl"
    code, output = pseudo_label(synthetic(sseg_checkpoint, out, "--num-images", "6"), capsys)
    assert code == 0, output
    assert "6 written, 0 skipped" in output
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [f"synthetic-0-{i:08d}" for i in range(6)]  # the pairs' keys
    for png in pngs:
        with Image.open(png) as image:
            assert image.mode == "P" and image.size == (64, 64)
            values = np.asarray(image)
        assert values.min() >= 0 and values.max() <= 8  # background + 8 classes, never 255
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["checkpoint"] == str(sseg_checkpoint.resolve()) and manifest["model"] == "SSeg"
    assert (manifest["dataset"], manifest["split"], manifest["protocol"]) == (
        "synthetic",
        "train",
        "groupvit",
    )
    assert manifest["bg_threshold"] == 0.95 and manifest["background_rule"] == "window"
    assert manifest["count"] == manifest["num_images"] == 6 and manifest["complete"]
    assert (out / SETTINGS).is_file()


def test_python_api_matches_the_command(sseg_checkpoint, tmp_path, capsys):
    manifest = pseudo_label_folder(
        sseg_checkpoint, "synthetic", tmp_path / "api", limit=2, num_images=4, bg_threshold=0.5
    )
    assert (manifest["written"], manifest["skipped"], manifest["count"]) == (2, 0, 2)
    assert manifest["bg_threshold"] == 0.5 and not manifest["complete"]
    code, output = pseudo_label(
        synthetic(
            sseg_checkpoint, tmp_path / "cli", "--num-images", "4", "--limit", "2", "--bg-threshold", "0.5"
        ),
        capsys,
    )
    assert code == 0, output
    assert files_of(tmp_path / "api") == files_of(tmp_path / "cli")


def test_resumed_run_equals_an_uninterrupted_one(sseg_checkpoint, tmp_path, capsys):
    resumed, fresh = tmp_path / "resumed", tmp_path / "fresh"
    code, output = pseudo_label(
        synthetic(sseg_checkpoint, resumed, "--num-images", "8", "--limit", "3"), capsys
    )
    assert code == 0 and "3 written, 0 skipped" in output and "3 of 8 images" in output
    assert not json.loads((resumed / MANIFEST).read_text())["complete"]
    code, output = pseudo_label(synthetic(sseg_checkpoint, resumed, "--num-images", "8"), capsys)
    assert code == 0 and "5 written, 3 skipped (already there)" in output
    code, output = pseudo_label(synthetic(sseg_checkpoint, fresh, "--num-images", "8"), capsys)
    assert code == 0 and "8 written, 0 skipped" in output
    assert files_of(resumed) == files_of(fresh)  # PNGs, settings and manifest, byte for byte
    code, output = pseudo_label(synthetic(sseg_checkpoint, resumed, "--num-images", "8"), capsys)
    assert code == 0 and "0 written, 8 skipped" in output


def test_a_run_killed_mid_image_leaves_whole_files_only(sseg_checkpoint, tmp_path, capsys, monkeypatch):
    out, fresh = tmp_path / "killed", tmp_path / "fresh"
    real_save = Image.Image.save
    calls = []

    def dies_on_the_third_png(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 3:
            fp.write(b"\x89PNG half an image")
            raise KeyboardInterrupt("killed")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", dies_on_the_third_png)
    with pytest.raises(KeyboardInterrupt):
        main(["pseudo-label", *synthetic(sseg_checkpoint, out, "--num-images", "5"), *FAST])
    monkeypatch.setattr(Image.Image, "save", real_save)
    assert sorted(p.name for p in out.iterdir()) == [
        SETTINGS,
        "synthetic-0-00000000.png",
        "synthetic-0-00000001.png",
    ]  # no partial PNG, no temporary file, no manifest
    code, output = pseudo_label(synthetic(sseg_checkpoint, out, "--num-images", "5"), capsys)
    assert code == 0 and "3 written, 2 skipped" in output
    code, _ = pseudo_label(synthetic(sseg_checkpoint, fresh, "--num-images", "5"), capsys)
    assert code == 0
    assert files_of(out) == files_of(fresh)


def test_voc_train_images_are_labelled_without_their_ground_truth(
    sseg_checkpoint, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "data"
    write_voc(root, [(40, 56), (48, 40), (36, 36)], seed=3, split="train")
    labels = root / "VOCdevkit" / "VOC2012" / "SegmentationClass"
    for label in labels.iterdir():
        label.write_bytes(b"not a png")  # any attempt to decode the ground truth would fail
    opened: list[str] = []
    real_open = Image.open

    def recording_open(fp, *args, **kwargs):
        opened.append(str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", recording_open)
    out = tmp_path / "pl"
    args = ["--ckpt", str(sseg_checkpoint), "--data", "voc", "--split", "train", "--data-root", str(root)]
    code, output = pseudo_label([*args, "--out", str(out)], capsys)
    assert code == 0, output
    assert not [path for path in opened if "SegmentationClass" in path]
    assert sorted(p.name for p in out.glob("*.png")) == [
        "2007_000000.png",
        "2007_000001.png",
        "2007_000002.png",
    ]
    with Image.open(out / "2007_000001.png") as image:
        assert image.size == (40, 48)  # the image's own size (W, H)
        assert np.asarray(image).max() <= 20
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["dataset"] == "voc" and manifest["data_root"] == str(root.resolve())
    labels.rename(root / "gone")  # the label folder is not needed at all
    code, output = pseudo_label([*args, "--out", str(tmp_path / "again")], capsys)
    assert code == 0, output


def test_missing_dataset_checkpoint_and_changed_settings_are_user_errors(sseg_checkpoint, tmp_path, capsys):
    args = ["--ckpt", str(sseg_checkpoint), "--data", "voc", "--out", str(tmp_path / "pl")]
    code, output = pseudo_label([*args, "--data-root", str(tmp_path / "nothing")], capsys)
    assert code == 2 and "Dataset 'voc'" in output
    assert "VOCdevkit/VOC2012" in output and "To prepare it" in output and "Traceback" not in output
    code, output = pseudo_label(synthetic(tmp_path / "missing.ckpt", tmp_path / "pl"), capsys)
    assert code == 2 and "missing.ckpt: no such file" in output
    assert not (tmp_path / "pl").exists()
    out = tmp_path / "pl2"
    assert pseudo_label(synthetic(sseg_checkpoint, out, "--num-images", "2"), capsys)[0] == 0
    code, output = pseudo_label(
        synthetic(sseg_checkpoint, out, "--num-images", "2", "--bg-threshold", "0.3"), capsys
    )
    assert code == 2 and "bg_threshold" in output and "another --out" in output
    code, output = pseudo_label(synthetic(sseg_checkpoint, out, "--model", "segclip"), capsys)
    assert code == 2 and "needs a segclip one" in output


def test_a_selftrain_model_labels_its_own_benchmark_again(selftrain_checkpoint, tmp_path, capsys):
    out = tmp_path / "round2"
    args = ["--model", "selftrain", "--ckpt", str(selftrain_checkpoint), "--data", "synthetic"]
    code, output = pseudo_label([*args, "--out", str(out), "--num-images", "3"], capsys)
    assert code == 0 and "3 written, 0 skipped" in output, output
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [f"synthetic-0-{i:08d}" for i in range(3)]
    for png in pngs:
        with Image.open(png) as image:
            assert image.mode == "P" and image.size == (64, 64) and np.asarray(image).max() <= 8
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["model"] == "SelfTrain" and manifest["complete"]
    assert manifest["background_rule"] == "argmax" and manifest["bg_threshold"] is None
    code, output = pseudo_label([*args, "--out", str(tmp_path / "t"), "--bg-threshold", "0.5"], capsys)
    assert code == 2 and "drop --bg-threshold" in output


def test_a_selftrain_model_refuses_a_benchmark_of_other_classes(selftrain_checkpoint, tmp_path, capsys):
    root = tmp_path / "data"
    write_voc(root, [(40, 56), (48, 40)], seed=3, split="train")
    out = tmp_path / "pl"
    args = ["--ckpt", str(selftrain_checkpoint), "--data", "voc", "--data-root", str(root), "--out", str(out)]
    code, output = pseudo_label(args, capsys)
    assert code == 2 and "Traceback" not in output
    assert "closed-vocabulary SelfTrain model" in output
    assert "8 classes + background (ball, box, star, ring, cross, moon, heart, arrow)" in output
    assert "--data voc has 20 classes + background (aeroplane, bicycle, " in output and "tvmonitor)" in output
    assert "Pseudo-label --data synthetic with it" in output
    assert not out.exists()
