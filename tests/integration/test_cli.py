"""The ``ovseg`` command: short names, help, errors, every experiment YAML, an end-to-end test run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ovseg.cli import DATA_ALIASES, MODEL_ALIASES, AliasError, expand_aliases, main
from ovseg.evaluation.protocols import PROTOCOLS
from tests.support.datasets import write_voc

REPO = Path(__file__).resolve().parents[2]
TEST_MODEL = "tests.support.segmenters.ColourSegmenter"
ALL_NAMES = [*MODEL_ALIASES, *DATA_ALIASES, *PROTOCOLS]


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out = capsys.readouterr()
    return exit_info.value.code, out.out + out.err


def test_data_alias_expands_to_class_path_and_dataset():
    argv = expand_aliases(["test", "--data", "coco", "--protocol=tcl", "--data-root", "/x"])
    assert argv == [
        "test",
        "--data",
        "ovseg.data.segmentation.SegDataModule",
        "--data.dataset=coco",
        "--protocol",
        "tcl",
        "--data.data_root=/x",
    ]
    assert expand_aliases(["test", "--data-root=/x", "--data", "voc"])[-1] == "--data.data_root=/x"


def test_ckpt_maps_lightning_checkpoints_and_released_weights(tmp_path):
    run, released = tmp_path / "last.ckpt", tmp_path / "segclip.bin"
    run.write_bytes(b"x")
    released.write_bytes(b"x")
    assert expand_aliases(["test", "--ckpt", str(run), "--model", "x.Y"])[-1] == f"--ckpt_path={run}"
    assert expand_aliases(["test", "--ckpt", "last"])[-1] == "--ckpt_path=last"
    assert expand_aliases(["test", "--ckpt", str(released)])[-1] == f"--model.weights={released}"
    with pytest.raises(AliasError, match="no such file"):
        expand_aliases(["test", "--ckpt", str(tmp_path / "missing.bin")])
    assert expand_aliases(["fit", "--model=my_pkg.Model"]) == ["fit", "--model", "my_pkg.Model"]


@pytest.mark.parametrize(
    ("argv", "valid"),
    [
        (["test", "--model", "segclp"], "segclip, sseg"),
        (["test", "--data=pascal"], "voc, voc20, context, context59, coco, coco-stuff, ade20k, cityscapes"),
        (["test", "--protocol", "mmseg"], "groupvit, groupvit-plain, segclip, tcl"),
    ],
)
def test_misspelt_name_is_an_error_listing_the_valid_ones(argv, valid, capsys):
    with pytest.raises(AliasError, match=valid):
        expand_aliases(argv)
    code, output = run_main(argv, capsys)
    assert code == 2
    assert valid in output


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["test", "--help"], ["validate", "--help"]])
def test_help_lists_every_short_name(args, capsys):
    code, output = run_main(args, capsys)
    assert code == 0
    for name in ALL_NAMES:
        assert f"    {name}" in output, name


def test_console_script_runs():
    script = Path(sys.executable).with_name("ovseg")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "short names" in result.stdout and "sseg" in result.stdout


@pytest.mark.parametrize("path", sorted((REPO / "experiments").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_yaml_parses(path, capsys):
    config = yaml.safe_load(path.read_text())
    args = ["test", "-c", str(path)]
    if "model" not in config:
        args += ["--model", TEST_MODEL]
    code, output = run_main([*args, "--print_config"], capsys)
    assert code == 0, output
    printed = yaml.safe_load(output)
    assert printed["protocol"] == config.get("protocol", "groupvit")
    assert printed["data"]["class_path"] == config["data"]["class_path"]


def test_unknown_config_key_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "protocol: groupvit\ndata:\n  class_path: ovseg.data.segmentation.SegDataModule\n"
        "  init_args:\n    datset: voc\n"
    )
    code, output = run_main(["test", "-c", str(bad), "--model", TEST_MODEL], capsys)
    assert code != 0
    assert "datset" in output


def test_missing_dataset_names_the_layout(tmp_path, capsys):
    code, message = run_main(
        [
            "test",
            "--model",
            TEST_MODEL,
            "--data",
            "voc",
            "--data-root",
            str(tmp_path),
            "--trainer.default_root_dir",
            str(tmp_path / "runs"),
        ],
        capsys,
    )
    assert code == 2
    assert "ovseg: error: Dataset 'voc'" in message  # printed, exit 2: no traceback
    assert not (tmp_path / "runs").exists(), "nothing is written before the data is found"
    assert "VOCdevkit/VOC2012" in message and "SegmentationClass" in message and "--data-root" in message


def test_end_to_end_test_run_writes_a_self_describing_result(tmp_path, capsys):
    write_voc(tmp_path / "data", [(60, 80), (97, 50), (120, 120), (50, 50)], seed=1)
    main(
        [
            "test",
            "--model",
            TEST_MODEL,
            "--data",
            "voc",
            "--data-root",
            str(tmp_path / "data"),
            "--data.num_workers",
            "0",
            "--trainer.default_root_dir",
            str(tmp_path / "runs"),
            "--protocol",
            "groupvit",
        ]
    )
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "aeroplane" in printed
    (path,) = (tmp_path / "runs").rglob("test_voc_groupvit.json")
    result = json.loads(path.read_text())
    assert result["dataset"]["name"] == "voc"
    assert result["dataset"]["num_images"] == 4
    assert result["dataset"]["label_names"][0] == "background"
    assert len(result["metrics"]["IoU"]) == 21
    protocol = result["protocol"]
    assert protocol["bg_threshold"] == 0.95
    assert (protocol["short_side"], protocol["mode"], protocol["crop"], protocol["stride"]) == (
        448,
        "slide",
        448,
        224,
    )
    assert protocol["templates"] == ["a photo of a {}."]
    assert "table" in protocol["prompt_names"] and "diningtable" in result["dataset"]["class_names"]
    assert result["ovseg_version"] and "checkpoint" in result
    # The colour segmenter recovers its painted scenes: most pixels right, background included.
    metrics = result["metrics"]
    assert metrics["aAcc"] > 95
    assert metrics["IoU"][0] > 95
    absent = [iou for iou in metrics["IoU"] if iou is None]
    assert absent, "classes absent from GT and predictions are written as null"
    assert not math.isnan(metrics["mIoU"])


def test_default_data_is_the_built_in_synthetic_benchmark(tmp_path, monkeypatch):
    monkeypatch.setenv("OVSEG_DATA_ROOT", str(tmp_path / "no-data-here"))
    main(
        [
            "test",
            "--model",
            TEST_MODEL,
            "--data.val_limit",
            "3",
            "--data.num_workers",
            "0",
            "--trainer.default_root_dir",
            str(tmp_path / "runs"),
        ]
    )
    (path,) = (tmp_path / "runs").rglob("test_synthetic_groupvit.json")
    result = json.loads(path.read_text())
    assert result["dataset"]["num_images"] == 3
    assert result["dataset"]["label_names"][1:] == [
        "ball",
        "box",
        "star",
        "ring",
        "cross",
        "moon",
        "heart",
        "arrow",
    ]
    assert result["protocol"]["mode"] == "whole" and result["protocol"]["bg_threshold"] == 0.95


def test_a_user_error_wrapped_by_the_parser_is_still_printed_plainly(tmp_path, capsys):
    code, output = run_main(
        [
            "test",
            "--model",
            TEST_MODEL,
            "--data",
            "voc",
            "--data.data_root",
            str(tmp_path),
            "--model.templates",
            "coco",
        ],
        capsys,
    )
    assert code == 2
    assert "ovseg: error:" in output and "imagenet" in output
