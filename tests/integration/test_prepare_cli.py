"""The ``ovseg prepare`` command: help, user errors, the delegated superpixels step, real runs."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ovseg import prepare_cli
from ovseg.cli import alias_help, main
from tests.unit.test_prepare import (
    COCO_IDS,
    CONTEXT_EXPECTED,
    OBJECT_A,
    STUFF_A,
    coco_out,
    context_label,
    write_coco_images,
    write_context,
    write_stuffthingmaps,
)

REPO = Path(__file__).resolve().parents[2]


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """``ovseg ARGS`` in this process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_help_names_each_converter_and_its_downloads(capsys):
    code, out, _ = run(["prepare", "--help"], capsys)
    assert code == 0
    for text in ("coco-object", "context", "superpixels", "stuffthingmaps_trainval2017.zip"):
        assert text in out
    assert "trainval_merged.json" in out and "VOCtrainval_03-May-2010.tar" in out
    code, out, _ = run(["prepare", "coco-object", "--help"], capsys)
    assert code == 0 and "ROOT/coco_stuff164k/annotations/" in out and "images/val2017/*.jpg" in out
    code, out, _ = run(["prepare", "context", "--help"], capsys)
    assert code == 0 and "ROOT/VOCdevkit/VOC2010/trainval_merged.json" in out
    assert "ovseg prepare NAME --data-root ROOT" in alias_help()


@pytest.mark.parametrize(
    ("args", "expected_path", "download"),
    [
        (["coco-object"], "coco_stuff164k/annotations/val2017", "stuffthingmaps_trainval2017.zip"),
        (
            ["coco-object", "--splits", "train"],
            "coco_stuff164k/annotations/train2017",
            "stuffthingmaps_trainval2017.zip",
        ),
        (["context"], "VOCdevkit/VOC2010/JPEGImages", "VOCtrainval_03-May-2010.tar"),
        (["context", "--json", "nowhere.json"], "VOCdevkit/VOC2010/JPEGImages", "VOC"),
    ],
)
def test_missing_inputs_are_errors_naming_the_expected_path(tmp_path, capsys, args, expected_path, download):
    code, _, err = run(["prepare", *args, "--data-root", str(tmp_path), "--no-progress"], capsys)
    assert code == 2
    assert err.startswith("ovseg prepare: error: ")
    assert str(tmp_path / expected_path) in err and download in err
    assert "Traceback" not in err


def test_missing_json_names_the_default_and_the_option(tmp_path, capsys):
    (tmp_path / "VOCdevkit" / "VOC2010" / "JPEGImages").mkdir(parents=True)
    code, _, err = run(["prepare", "context", "--data-root", str(tmp_path)], capsys)
    assert code == 2 and str(tmp_path / "VOCdevkit/VOC2010/trainval_merged.json") in err and "--json" in err


def test_usage_errors_exit_2(tmp_path, capsys):
    assert run(["prepare"], capsys)[0] == 2
    code, _, err = run(["prepare", "coco-object", "--workers", "0"], capsys)
    assert code == 2 and "must be at least 1" in err
    code, _, err = run(["prepare", "ade20k"], capsys)
    assert code == 2 and "coco-object" in err


def test_coco_object_end_to_end_and_rerun(tmp_path, capsys, monkeypatch):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "annotations")
    monkeypatch.setenv("OVSEG_DATA_ROOT", str(tmp_path))  # --data-root's default
    code, out, err = run(["prepare", "coco-object", "--stuff", "--no-progress"], capsys)
    assert code == 0, err
    assert "coco-object: 2 raw maps; 4 labels written, 0 skipped" in out
    assert "note: no images in" in err and "val2017.zip" in err  # images are not required, but named
    np.testing.assert_array_equal(
        np.asarray(Image.open(coco_out(tmp_path, COCO_IDS[0], "_labelTrainIds.png"))), STUFF_A
    )
    write_coco_images(tmp_path)
    code, out, err = run(["prepare", "coco-object", "--stuff", "--no-progress"], capsys)
    assert code == 0 and "0 labels written, 4 skipped (already complete)" in out and err == ""


def test_context_end_to_end_with_a_json_elsewhere(tmp_path, capsys):
    json_path = write_context(tmp_path, tmp_path / "downloads.json")
    args = ["prepare", "context", "--data-root", str(tmp_path), "--json", str(json_path), "--workers", "2"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "context: 3 images; 3 labels written" in out and "split lists: 1 train, 2 val" in out
    expected = CONTEXT_EXPECTED["2008_000003"]
    np.testing.assert_array_equal(np.asarray(Image.open(context_label(tmp_path, "2008_000003"))), expected)


def test_superpixels_missing_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setattr(prepare_cli, "SUPERPIXELS_MODULE", "ovseg.data.no_superpixels_here")
    code, _, err = run(["prepare", "superpixels", "--data-root", "x"], capsys)
    assert code == 2 and "not available in this version" in err and "Traceback" not in err
    code, out, _ = run(["prepare", "--help"], capsys)  # the other converters are unaffected
    assert code == 0 and "superpixels" in out


def test_superpixels_is_delegated(tmp_path, capsys, monkeypatch):
    seen = {}
    fake = types.ModuleType("fake_superpixels")

    def add_prepare_arguments(parser):
        parser.add_argument("--segments", type=int, default=100)
        parser.add_argument("--workers", type=int, default=3)  # its own definition wins

    fake.add_prepare_arguments = add_prepare_arguments
    fake.run_prepare = lambda args: seen.update(vars(args))
    monkeypatch.setitem(sys.modules, "fake_superpixels", fake)
    monkeypatch.setattr(prepare_cli, "SUPERPIXELS_MODULE", "fake_superpixels")
    assert prepare_cli.main(["superpixels", "--segments", "7"]) == 0
    assert seen["segments"] == 7 and seen["workers"] == 3
    assert "data_root" not in seen  # the hook module's options only


@pytest.mark.parametrize(
    ("name", "own_options"),
    [
        ("superpixels", ("--source", "--cache", "--scale", "--min-size", "--workers", "--no-progress")),
        ("pseudo-masks", ("--source", "--cache", "--dino-weights", "--kmeans-backend", "--k", "--workers")),
    ],
)
def test_cache_builders_show_only_their_own_options(capsys, name, own_options):
    code, out, _ = run(["prepare", name, "--help"], capsys)
    assert code == 0
    assert "--data-root" not in out  # they read pair sources, not the benchmarks' data root
    for option in own_options:
        assert option in out, option
    if name == "pseudo-masks":
        assert "--sigma" not in out  # superpixels' Felzenszwalb settings are not pseudo-masks' options
    code, out, _ = run(["prepare", "coco-object", "--help"], capsys)
    assert code == 0 and "--data-root" in out and "--cache" not in out


def test_console_script_runs_prepare(tmp_path):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "stuffthingmaps_trainval2017")
    command = [sys.executable, "-m", "ovseg", "prepare", "coco-object", "--data-root", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 labels written" in result.stdout
    np.testing.assert_array_equal(
        np.asarray(Image.open(coco_out(tmp_path, COCO_IDS[0], "_instanceTrainIds.png"))), OBJECT_A
    )
