"""``ovseg oracle``: each mask source end to end on the synthetic benchmark, and its user errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from ovseg.cli import alias_help, main
from ovseg.data.catalog import get_dataset_spec
from ovseg.oracle import oracle_miou
from tests.support.tiny_runs import fit_one_step


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """``ovseg oracle ARGS`` in this process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["oracle", *args])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def _check(result: dict, images: int) -> None:
    assert result["num_images"] == images and result["dataset"] == "synthetic"
    assert 0.0 <= result["metrics"]["mIoU"] <= 100.0 and 0.0 <= result["metrics"]["aAcc"] <= 100.0
    assert result["label_names"] == list(get_dataset_spec("synthetic").label_names)
    assert list(result["per_class_IoU"]) == result["label_names"]


@pytest.mark.parametrize("masks", ["pixel", "felzenszwalb"])
def test_weight_free_sources_on_the_synthetic_benchmark(tmp_path, capsys, masks):
    out = tmp_path / "result.json"
    code, stdout, _ = run(["--masks", masks, "--data", "synthetic", "--limit", "8", "--out", str(out),
                           "--workers", "0", "--no-progress"], capsys)  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    _check(result, 8)
    assert result["masks"]["source"] == masks and result["masks_per_image"] >= 1
    assert "mIoU / aAcc" in stdout and f"{result['metrics']['mIoU']:.2f}" in stdout
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary file left


def test_dino_masks_with_random_weights(tmp_path, capsys):
    from ovseg.nn.dino import DinoFeatures

    torch.manual_seed(0)
    weights = tmp_path / "dino.safetensors"
    save_file(
        {k: v.contiguous() for k, v in DinoFeatures(pretrained=False).vit.state_dict().items()}, str(weights)
    )
    out = tmp_path / "dino.json"
    args = ["--masks", "dino", "--data", "synthetic", "--limit", "2", "--dino-weights", str(weights),
            "--k", "4", "--short-side", "64", "--out", str(out), "--workers", "0"]  # fmt: skip
    code, _, _ = run(args, capsys)
    assert code == 0
    result = json.loads(out.read_text())
    _check(result, 2)
    assert result["masks"] == {"source": "dino", "k": 4, "short_side": 64, "weights": str(weights)}
    assert 1 <= result["masks_per_image"] <= 4


def test_segclip_groups_as_masks(tmp_path, capsys):
    run_dir = fit_one_step("segclip", tmp_path / "runs")
    (checkpoint,) = run_dir.rglob("*.ckpt")
    out = tmp_path / "segclip.json"
    code, _, _ = run(["--masks", "segclip", "--ckpt", str(checkpoint), "--data", "synthetic", "--limit", "3",
                      "--out", str(out), "--workers", "0"], capsys)  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    _check(result, 3)
    assert result["masks"]["short_side"] == 64 and 1 <= result["masks_per_image"] <= 8  # 8 centers


def test_oracle_miou_takes_a_data_module_as_the_benchmark_would():
    from ovseg.data.image_text import ImageTextDataModule
    from ovseg.data.segmentation import SegDataModule

    direct = oracle_miou("pixel", SegDataModule("synthetic", num_workers=0), limit=3)
    through_pairs = oracle_miou("pixel", ImageTextDataModule(val_dataset="synthetic", num_workers=0), limit=3)
    assert direct["num_images"] == through_pairs["num_images"] == 3
    assert direct["metrics"]["mIoU"] == pytest.approx(through_pairs["metrics"]["mIoU"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--masks", "dino", "--dino-weights", "nowhere/dino.safetensors"], "--dino-weights FILE"),
        (["--masks", "segclip"], "needs a SegCLIP checkpoint: --ckpt FILE"),
        (["--masks", "segclip", "--ckpt", "nowhere.ckpt"], "nowhere.ckpt: no such file"),
        (["--masks", "pixel", "--ckpt", "x.ckpt"], "--ckpt is for --masks segclip"),
    ],
)
def test_user_errors_exit_2_with_the_fix(tmp_path, capsys, args, message):
    code, _, err = run(
        [*args, "--data", "synthetic", "--limit", "1", "--out", str(tmp_path / "r.json")], capsys
    )
    assert code == 2 and message in err
    assert not (tmp_path / "r.json").exists()


def test_a_missing_dataset_names_its_layout(tmp_path, capsys):
    code, _, err = run(["--masks", "pixel", "--data", "voc", "--data-root", str(tmp_path)], capsys)
    assert code == 2 and "VOCdevkit/VOC2012" in err and "VOCtrainval_11-May-2012.tar" in err
    assert "ovseg oracle --masks" in alias_help()


def test_help_lists_every_source(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for name in ("dino", "pixel", "felzenszwalb", "segclip", "majority"):
        assert name in out
