"""``ovseg predict --labels``: real photographs (scikit-image) and generated images, every method
(segclip and sseg with free-text labels, selftrain with its own classes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from ovseg import export_cli
from ovseg.cli import alias_help, main
from ovseg.data.catalog import get_dataset_spec
from ovseg.data.palette import voc_palette
from ovseg.data.synthetic.scene import render_scene
from ovseg.predict.cli import wants_this_command
from ovseg.predict.closed_vocabulary import closed_vocabulary_labels
from ovseg.predict.render import OVERLAY_ALPHA
from tests.support.tiny_runs import fit_one_step, fit_selftrain_one_step

LABELS = ["cat", "a cup of coffee", "an astronaut"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A one-step tiny model of each method (the tiny CPU recipes; selftrain on the S-Seg's labels)."""
    root = tmp_path_factory.mktemp("runs")
    found = {}
    for method in ("segclip", "sseg"):
        (found[method],) = fit_one_step(method, root / method).rglob("*.ckpt")
    (found["selftrain"],) = fit_selftrain_one_step(found["sseg"], root / "selftrain").rglob("*.ckpt")
    return found


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """scikit-image's photographs: PNG (square), JPEG (landscape, portrait-free), grey PNG."""
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage.data.astronaut()).save(folder / "astronaut.png")
    Image.fromarray(skimage.data.coffee()).save(folder / "coffee.jpg", quality=90)
    Image.fromarray(skimage.data.chelsea()).save(folder / "chelsea.jpeg", quality=90)
    Image.fromarray(skimage.data.camera()).save(folder / "camera.png")  # grayscale: becomes RGB
    return sorted(folder.iterdir())


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """``ovseg predict ARGS`` in this process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", *args])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def check_outputs(out: Path, image_path: Path, labels: list[str], background: bool) -> dict:
    """Every file of one image is there and consistent; returns its JSON."""
    rgb = np.asarray(Image.open(image_path).convert("RGB"))
    height, width = rgb.shape[:2]
    with Image.open(out / f"{image_path.stem}.png") as label_png:
        assert label_png.mode == "P" and label_png.size == (width, height)
        values = np.asarray(label_png)
        assert label_png.getpalette()[3:6] == voc_palette()[1].tolist()
    assert values.min() >= (0 if background else 1) and values.max() <= len(labels)
    record = json.loads((out / f"{image_path.stem}.json").read_text())
    assert record["image"] == str(image_path) and record["size"] == [height, width]
    assert record["labels"] == labels
    names = (["background"] if background else []) + labels
    assert list(record["areas"]) == names
    assert sum(area["pixels"] for area in record["areas"].values()) == height * width
    assert sum(area["fraction"] for area in record["areas"].values()) == pytest.approx(1.0)
    for value, name in enumerate(names, start=0 if background else 1):
        assert record["areas"][name]["pixels"] == int((values == value).sum())
    with Image.open(out / f"{image_path.stem}_overlay.png") as overlay_png:
        overlay = np.asarray(overlay_png.convert("RGB"))
    assert overlay.shape[0] >= height and overlay.shape[1] > width  # the legend on the right
    blended = overlay[:height, :width].astype(float)
    expected = rgb.astype(float)
    coloured = values > 0
    colours = voc_palette()[values[coloured]]
    expected[coloured] = (1 - OVERLAY_ALPHA) * expected[coloured] + OVERLAY_ALPHA * colours
    assert np.abs(blended - expected).max() <= 1.0  # background uncoloured, labels blended
    return record


@pytest.mark.parametrize("method", ["segclip", "sseg"])
def test_photographs_with_free_text_labels(tmp_path, capsys, checkpoints, photos, method):
    out = tmp_path / "out"
    code, stdout, _ = run(["--ckpt", str(checkpoints[method]), "--labels", ", ".join(LABELS),
                           "--out", str(out), *map(str, photos)], capsys)  # fmt: skip
    assert code == 0 and f"{len(photos)} images written to {out}" in stdout
    assert len(list(out.iterdir())) == 3 * len(photos)  # and no temporary files
    for photo in photos:
        record = check_outputs(out, photo, LABELS, background=True)
        assert record["protocol"] == "groupvit" and record["bg_threshold"] == 0.95
        assert record["model"] == {"segclip": "SegCLIP", "sseg": "SSeg"}[method]
        assert record["templates"] == ["a photo of a {}."]


@pytest.mark.parametrize("method", ["segclip", "sseg"])
def test_a_folder_of_generated_images_without_background(tmp_path, capsys, checkpoints, method):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(render_scene(0, index, "eval", 64).image).save(folder / f"scene{index}.png")
    (folder / "notes.txt").write_text("not an image")  # skipped: folders are scanned for images only
    labels = ["ball", "box", "star", "ring"]
    out = tmp_path / "out"
    code, _, _ = run(["--ckpt", str(checkpoints[method]), "--labels", ",".join(labels), "--out", str(out),
                      "--images", str(folder), "--no-background", "--protocol", "tcl",
                      "--templates", "imagenet"], capsys)  # fmt: skip
    assert code == 0
    for index in range(3):
        record = check_outputs(out, folder / f"scene{index}.png", labels, background=False)
        assert record["bg_threshold"] is None and record["protocol"] == "tcl"
        assert len(record["templates"]) == 80


def test_thresholds_and_windows_follow_the_protocol_and_overrides(tmp_path, capsys, checkpoints, photos):
    out = tmp_path / "out"
    photo = str(photos[0])
    args = ["--ckpt", str(checkpoints["sseg"]), "--labels", "cat", "--out", str(out), photo]
    assert run([*args, "--protocol", "segclip"], capsys)[0] == 0
    record = json.loads((out / f"{photos[0].stem}.json").read_text())
    assert record["bg_threshold"] == 0.8 and (record["short_side"], record["crop"]) == (224, 224)
    assert run([*args, "--bg-threshold", "0.01", "--short-side", "96", "--mode", "whole"], capsys)[0] == 0
    record = json.loads((out / f"{photos[0].stem}.json").read_text())
    assert record["bg_threshold"] == 0.01 and record["short_side"] == 96 and record["mode"] == "whole"
    assert record["areas"]["background"]["pixels"] == 0  # a 1-step S-Seg scores far above 0.01
    assert record["background_rule"] == "window" and record["class_filter"] == {
        "top_k": 5,
        "combine": "product",
    }
    rules = ["--bg-rule", "constant", "--top-k-classes", "0"]
    assert run([*args, "--protocol", "groupvit-plain", *rules], capsys)[0] == 0
    record = json.loads((out / f"{photos[0].stem}.json").read_text())
    assert record["background_rule"] == "constant" and record["class_filter"] is None


def test_an_exported_model_predicts_like_its_checkpoint(tmp_path, capsys, checkpoints, photos):
    exported = tmp_path / "sseg.safetensors"
    assert export_cli.main(["--ckpt", str(checkpoints["sseg"]), "--out", str(exported)]) == 0
    common = ["--labels", ", ".join(LABELS), "--short-side", "64", str(photos[1])]
    assert run(["--ckpt", str(checkpoints["sseg"]), "--out", str(tmp_path / "a"), *common], capsys)[0] == 0
    assert run(["--ckpt", str(exported), "--out", str(tmp_path / "b"), *common], capsys)[0] == 0
    name = f"{photos[1].stem}.png"
    from_checkpoint, from_export = (np.asarray(Image.open(tmp_path / d / name)) for d in "ab")
    assert np.array_equal(from_checkpoint, from_export)
    # the wrong --model for a checkpoint is named
    code, _, err = run(
        ["--ckpt", str(exported), "--model", "segclip", "--out", str(tmp_path / "c"), *common], capsys
    )
    assert code == 2 and "is a sseg checkpoint, but this needs a segclip one" in err


def test_routing_between_this_command_and_lightning_predict(capsys):
    assert wants_this_command(["--labels", "cat", "x.jpg"]) and wants_this_command(["--labels=cat"])
    assert wants_this_command(["--images", "folder"])
    assert wants_this_command(["--ckpt", "selftrain.ckpt", "--out", "preds", "x.jpg"])  # no --labels
    assert not wants_this_command(["--model", "sseg", "--data", "voc"])
    code, out, _ = run(["--labels", "cat", "--help"], capsys)
    assert code == 0 and "--no-background" in out and "ovseg predict --model sseg --data voc" in out
    assert "--labels" in alias_help()


SYNTHETIC_CLASSES = list(get_dataset_spec("synthetic").class_names)  # the selftrain model's classes


def test_a_selftrain_model_predicts_some_or_all_of_its_classes(tmp_path, capsys, checkpoints, photos):
    common = ["--ckpt", str(checkpoints["selftrain"]), "--short-side", "64", str(photos[0])]
    picked = ["star", "ball"]
    code, _, err = run([*common, "--labels", "Star, ball", "--out", str(tmp_path / "some")], capsys)
    assert code == 0, err
    record = check_outputs(tmp_path / "some", photos[0], picked, background=True)  # the model's spelling
    assert record["model"] == "SelfTrain" and record["model_classes"] == SYNTHETIC_CLASSES
    assert record["bg_threshold"] is None and record["templates"] is None
    code, _, err = run([*common, "--out", str(tmp_path / "all")], capsys)  # no --labels: every class
    assert code == 0, err
    check_outputs(tmp_path / "all", photos[0], SYNTHETIC_CLASSES, background=True)
    # a pixel of a class not picked is background: the picked classes keep exactly their pixels
    some = np.asarray(Image.open(tmp_path / "some" / f"{photos[0].stem}.png"))
    every = np.asarray(Image.open(tmp_path / "all" / f"{photos[0].stem}.png"))
    for value, name in enumerate(picked, start=1):
        assert np.array_equal(some == value, every == SYNTHETIC_CLASSES.index(name) + 1)
    code, _, err = run(
        [*common, "--labels", "ring", "--no-background", "--out", str(tmp_path / "one")], capsys
    )
    assert code == 0, err
    check_outputs(tmp_path / "one", photos[0], ["ring"], background=False)  # every pixel is the ring


def test_a_selftrain_model_refuses_labels_it_was_not_trained_for(tmp_path, capsys, checkpoints, photos):
    out = tmp_path / "out"
    common = ["--ckpt", str(checkpoints["selftrain"]), "--out", str(out), str(photos[0])]
    code, _, err = run([*common, "--labels", "ball, cat"], capsys)
    assert code == 2 and "'cat' is not a class of this SelfTrain model" in err
    assert f"({', '.join(SYNTHETIC_CLASSES)})" in err and "omit --labels" in err
    code, _, err = run([*common, "--labels", "ball", "--bg-threshold", "0.5"], capsys)
    assert code == 2 and "--bg-threshold: a SelfTrain model is closed-vocabulary" in err
    code, _, err = run(["--ckpt", str(checkpoints["sseg"]), "--out", str(out), str(photos[0])], capsys)
    assert code == 2 and "--labels is missing: a SSeg model is open-vocabulary" in err
    assert not out.exists()


def test_closed_vocabulary_labels_of_hand_made_scores():
    scores = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5]]).T.reshape(1, 3, 1, 3)
    classes = ("ball", "box")  # channel 0 background; the pixels' best: ball, background, box
    assert closed_vocabulary_labels(scores, classes, ("box",), True, True).tolist() == [[[0, 0, 1]]]
    assert closed_vocabulary_labels(scores, classes, ("box", "ball"), True, True).tolist() == [[[2, 0, 1]]]
    assert closed_vocabulary_labels(scores, classes, ("box",), True, False).tolist() == [[[1, 1, 1]]]
    both = closed_vocabulary_labels(scores, classes, ("box", "ball"), True, False)  # background not a choice
    assert both.tolist() == [[[2, 1, 1]]]
    no_background = scores[:, 1:]  # a model trained without background: channels are its classes
    assert closed_vocabulary_labels(no_background, classes, classes, False, True).tolist() == [[[1, 2, 2]]]


def _bad_jpeg(folder: Path) -> Path:
    path = folder / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return path


@pytest.mark.parametrize(
    ("labels", "images", "extra", "message"),
    [
        ("", "photo", [], "--labels is empty"),
        (" , ", "photo", [], "--labels is empty"),
        ("cat,,dog", "photo", [], "label 2 is empty"),
        ("cat, dog, Cat", "photo", [], "'Cat' is given twice"),
        ("background, cat", "photo", [], "--no-background"),
        ("cat", "missing", [], "does not exist: check the path"),
        ("cat", "broken", [], "cannot read image"),
        ("cat", "empty-folder", [], "holds no images"),
        ("cat", "photo", ["--no-background", "--bg-threshold", "0.5"], "contradict"),
        ("cat", "photo", ["--top-k-classes", "-1"], "top_k_classes must be at least 1"),
        ("cat", "photo", ["--model", "sseg", "--ckpt", "nowhere.ckpt"], "no such file"),
        ("cat", "photo", ["--ckpt", "WEIGHTS_BIN"], "--model segclip|sseg"),
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_writes_nothing(
    tmp_path, capsys, checkpoints, photos, labels, images, extra, message
):
    inputs = {
        "photo": [str(photos[0])],
        "missing": [str(photos[0]), str(tmp_path / "nowhere.jpg")],
        "broken": [str(photos[0]), str(_bad_jpeg(tmp_path))],
        "empty-folder": [str((tmp_path / "empty").resolve())],
    }[images]
    (tmp_path / "empty").mkdir()
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"")
    extra = [str(weights) if arg == "WEIGHTS_BIN" else arg for arg in extra]
    ckpt = [] if "--ckpt" in extra else ["--ckpt", str(checkpoints["sseg"])]
    out = tmp_path / "out"
    code, _, err = run([*ckpt, "--labels", labels, "--out", str(out), *extra, *inputs], capsys)
    assert code == 2 and message in err and err.startswith("ovseg predict: error:")
    assert not out.exists()


def test_an_interrupted_image_leaves_none_of_its_files(tmp_path, capsys, checkpoints, photos, monkeypatch):
    from ovseg.predict import render

    real = render.label_image
    calls = []

    def fail_on_second(labels):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # e.g. Ctrl-C while the second image is written
        return real(labels)

    monkeypatch.setattr(render, "label_image", fail_on_second)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        main(["predict", "--ckpt", str(checkpoints["sseg"]), "--labels", "cat", "--short-side", "64",
              "--out", str(out), str(photos[0]), str(photos[1])])  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{photos[0].stem}{suffix}" for suffix in (".png", "_overlay.png", ".json")
    )
