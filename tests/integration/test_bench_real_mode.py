"""Real mode of ``make bench`` end to end: tiny VOC and COCO-Object data on disk, checkpoints of both
methods trained here for one step, then the report; and every bad input stops it before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ovseg.bench.method_run import run_method
from ovseg.bench.program import main
from ovseg.cli import main as ovseg_main
from tests.support.datasets import write_coco_object, write_voc

REPO = Path(__file__).resolve().parents[2]
TINY_OVERRIDES = ["--data.batch_size", "4", "--data.num_workers", "0"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A data root with VOC and COCO-Object, and a one-step Lightning checkpoint of each method."""
    root = tmp_path_factory.mktemp("bench_real")
    # square images: one 448 px window each under groupvit (slide windows have tests of their own)
    write_voc(root / "data", [(40, 40), (36, 36), (32, 32)], seed=1)
    write_coco_object(root / "data", [(40, 40), (36, 36)], seed=2)
    paths = {"data": root / "data", "root": root}
    for method in ("segclip", "sseg"):
        run_method(str(recipe(method)), root / method, 1, 0, eval_limit=2, grid=1, extra=TINY_OVERRIDES)
        paths[method] = root / method / "model.ckpt"
    # S-Seg also as foreign weights: a plain state dict, its architecture given by a YAML
    state = torch.load(paths["sseg"], map_location="cpu", weights_only=True)["state_dict"]
    torch.save(state, root / "sseg.pt")
    paths["sseg_weights"] = root / "sseg.pt"
    return paths


def recipe(method: str) -> Path:
    return REPO / "experiments" / method / "tiny_cpu.yaml"


def bench(inputs: dict[str, Path], out: Path, *extra: str) -> int:
    return main(["--out", str(out), "--run", "r", "--workers", "0", "--grid", "1", *extra])


def test_real_mode_scores_both_checkpoints_on_both_datasets(inputs, tmp_path):
    args = ["--data", "voc", "coco", "--data-root", str(inputs["data"])]
    ckpts = ["--segclip-ckpt", str(inputs["segclip"]), "--sseg-ckpt", str(inputs["sseg_weights"])]
    ckpts += ["--sseg-config", str(recipe("sseg"))]
    assert bench(inputs, tmp_path, *args, *ckpts) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # renamed from r.incomplete
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["mode"] == "real" and report["protocol"] == "groupvit"
    assert report["datasets"] == ["voc", "coco"] and set(report["methods"]) == {"SegCLIP", "S-Seg"}
    for entry in report["methods"].values():
        assert entry["train"] is None and entry["parameters"]["total"] > 0
        results = entry["results"]
        assert [results[d]["num_images"] for d in ("voc", "coco")] == [3, 2]
        assert len(results["voc"]["IoU"]) == 21 and len(results["coco"]["IoU"]) == 81
        average = (results["voc"]["mIoU"] + results["coco"]["mIoU"]) / 2
        assert entry["average"]["mIoU"] == pytest.approx(average)
    assert "no training" in report["budget"]["statement"]
    assert set(report["pictures"]) == {"predictions", "per_class_iou_voc", "per_class_iou_coco"}
    assert all((tmp_path / "r" / name).is_file() for name in report["pictures"].values())
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "| voc mIoU | coco mIoU | average mIoU |" in markdown and "<details>" in markdown
    # each checkpoint's confidence ceiling on each dataset's classes, at that dataset's threshold
    for name, entry in report["methods"].items():
        voc, coco = entry["ceilings"]["voc"], entry["ceilings"]["coco"]
        assert (len(voc["per_class"]), len(coco["per_class"])) == (20, 80)
        assert voc["bg_threshold"] == coco["bg_threshold"] == 0.95
        assert f"| {name} | voc | " in markdown and f"| {name} | coco | " in markdown

    # each figure is what a hand-run `ovseg test` gives for the same checkpoint and dataset: the S-Seg
    # weights loaded as foreign weights score as the Lightning checkpoint they came from
    by_hand = tmp_path / "by_hand"
    ovseg_main(["test", "--model", "sseg", "--data", "voc", "--data-root", str(inputs["data"]),
                "--ckpt", str(inputs["sseg"]), "--data.num_workers", "0",
                "--model.results_dir", str(by_hand), "--trainer.logger", "false",
                "--trainer.default_root_dir", str(by_hand)])  # fmt: skip
    hand = json.loads((by_hand / "test_voc_groupvit.json").read_text())
    assert report["methods"]["S-Seg"]["results"]["voc"]["IoU"] == pytest.approx(
        hand["metrics"]["IoU"], nan_ok=True
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing dataset", ("coco_stuff164k/\n    images/val2017/*.jpg", "ovseg prepare coco-object")),
        ("missing checkpoint", ("--sseg-ckpt", "no such file")),
        ("other method's checkpoint", ("is of ovseg.methods.sseg.SSeg", "pass it as --sseg-ckpt")),
        ("foreign file of another layout", ("not in the released SegCLIP key layout",)),
        ("no checkpoint", ("at least one checkpoint",)),
        ("unknown dataset", ("Valid datasets",)),
    ],
)
def test_bad_inputs_stop_before_any_work(inputs, tmp_path, capsys, case, expected):
    voc_only = tmp_path / "voc_only"
    write_voc(voc_only, [(20, 24)])
    stranger = tmp_path / "stranger.bin"
    torch.save({"backbone.weight": torch.zeros(2)}, stranger)
    data = ["--data-root", str(inputs["data"])]
    segclip = ["--segclip-ckpt", str(inputs["segclip"])]
    argv = {
        "missing dataset": ["--data", "voc", "coco", "--data-root", str(voc_only), *segclip],
        "missing checkpoint": ["--data", "voc", *data, *segclip, "--sseg-ckpt", str(tmp_path / "no.ckpt")],
        "other method's checkpoint": ["--data", "voc", *data, "--segclip-ckpt", str(inputs["sseg"])],
        "foreign file of another layout": ["--data", "voc", *data, "--segclip-ckpt", str(stranger)],
        "no checkpoint": ["--data", "voc", *data],
        "unknown dataset": ["--data", "pascal", *data, *segclip],
    }[case]
    out = tmp_path / "results"
    assert bench(inputs, out, *argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("bench: error:") and "Traceback" not in error
    assert all(text in error for text in expected), error
    assert not out.exists()  # nothing was started
