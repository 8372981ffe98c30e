"""The benchmark report shows every figure the issue lists, and states budget differences."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from ovseg.bench.budget import budget_statement, method_budget
from ovseg.bench.oracle_levels import pixel_settings, synthetic_oracles
from ovseg.bench.report import markdown, print_report, write_report
from ovseg.bench.results import method_entry

PROTOCOL = {
    "name": "groupvit",
    "short_side": 448,
    "mode": "slide",
    "crop": 448,
    "stride": 224,
    "template_set": "simple",
    "bg_threshold": 0.95,
    "top_k_classes": None,
}


def record(dataset: str, miou: float, images: int = 4) -> dict:
    return {
        "metrics": {
            "mIoU": miou,
            "aAcc": 80.0,
            "mAcc": 60.0,
            "IoU": [90.0, miou, None],
            "Acc": [97.5, miou, None],
        },
        "dataset": {"name": dataset, "num_images": images, "label_names": ["background", "cat", "dog"]},
        "eval_seconds": 2.0,
        "protocol": PROTOCOL,
    }


def trained_result(batch_size: int, miou: float) -> dict:
    train = {"steps": 10, "images": 10 * batch_size, "batch_size": batch_size, "seconds": 5.0}
    return {
        "recipe": "tiny.yaml",
        "model": "M",
        "parameters": {"total": 2_500_000, "trainable": 2_500_000},
        "train": {**train, "images_per_s": 2.0 * batch_size, "data": {"seed": 0}, "loss_curve": [(1, 2.0)]},
        "eval": record("synthetic", miou),
        "ceilings": {"synthetic": None},  # as for a method without a class softmax
        "peak_memory_mb": 900.0,
        "device": "cpu",
        "threads": 2,
    }


def report_of(entries: dict, datasets: list[str], chance: dict | None = None, trained: bool = True) -> dict:
    budgets = {name: method_budget(entry) for name, entry in entries.items()}
    return {
        "run": "r",
        "mode": "synthetic" if trained else "real",
        "protocol": "groupvit",
        "datasets": datasets,
        "budget": {"per_method": budgets, "statement": budget_statement(budgets, trained)},
        "chance": chance or {},
        "environment": {"ovseg": "0", "torch": "2", "device": "CPU", "bench_process_threads": 2},
        "methods": entries,
        "pictures": {"predictions": "predictions.png"},
        "wall_seconds": 12.0,
    }


def terminal_text(report: dict) -> str:
    """What ``print_report`` shows in a 200-column terminal."""
    console = Console(record=True, width=200)
    print_report(report, console)
    return console.export_text()


def test_synthetic_report_has_costs_chance_budget_and_per_class_iou(tmp_path):
    entries = {"A": method_entry(trained_result(32, 55.0)), "B": method_entry(trained_result(32, 65.0))}
    report = report_of(entries, ["synthetic"], {"synthetic": {"all_background": 9.1, "uniform": 2.9}})
    text = terminal_text(report)
    for expected in ("55.00", "65.00", "2.50M", "64.0", "900", "2.0", "chance: all background", "9.10",
                     "chance: uniform labels", "2.90", "Same budget for every method: 10 optimisation steps",
                     "per-class IoU · synthetic", "slide 448/224"):  # fmt: skip
        assert expected in text, expected
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["methods"]["B"]["average"]["mIoU"] == 65.0
    text = md_path.read_text()
    assert "<details><summary>Per-class IoU on synthetic</summary>" in text and "| dog | — | — |" in text
    assert "![predictions](predictions.png)" in text and "bench_process_threads 2" in text
    assert "2 compute threads" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]


def test_different_batch_sizes_are_stated_as_a_budget_difference():
    entries = {"A": method_entry(trained_result(32, 50.0)), "B": method_entry(trained_result(16, 50.0))}
    statement = report_of(entries, ["synthetic"])["budget"]["statement"]
    assert statement.startswith("Budget differences: images seen differ")
    assert "A 320, B 160" in statement and "A batch 32, B batch 16" in statement


def checkpoint_result(evals: dict, **extra) -> dict:
    """What ``checkpoint_run`` writes for a checkpoint scored on ``evals`` (dataset → record)."""
    return {
        "checkpoint": "m.ckpt",
        "model": "M",
        "parameters": {"total": 1_000_000, "trainable": 1_000_000},
        "train": None,
        "evals": evals,
        "ceilings": {dataset: None for dataset in evals},
        "peak_memory_mb": 700.0,
        **extra,
    }


def test_real_report_has_a_column_per_dataset_and_the_average():
    result = checkpoint_result({"voc": record("voc", 40.0), "coco": record("coco", 20.0)})
    report = report_of({"A": method_entry(result)}, ["voc", "coco"], trained=False)
    text = markdown(report)
    assert "| method | voc mIoU | coco mIoU | average mIoU | mean aAcc |" in text
    assert "| A | 40.00 | 20.00 | 30.00 | 80.00 | 1.00M | — | — | 2.0 | 700 |" in text
    assert "no training in real mode" in text


def test_oracles_are_rows_beside_the_chance_levels_with_a_note_saying_what_they_are(tmp_path):
    entries = {"A": method_entry(trained_result(32, 55.0))}
    report = report_of(entries, ["synthetic"], {"synthetic": {"all_background": 9.1, "uniform": 2.9}})
    report["oracle"] = {"synthetic": {"pixel": 48.7, "felzenszwalb": 87.02}}
    _, md_path = write_report(report, tmp_path)
    text = md_path.read_text()
    assert "| oracle: S-Seg's pixel K-Means pseudo-masks | 48.70 |" in text
    assert "| oracle: Felzenszwalb superpixels | 87.02 |" in text
    assert "majority ground-truth class" in text and "ground-truth oracle" not in text
    report["oracle"]["synthetic"]["ground_truth"] = 50.14
    text = write_report(report, tmp_path / "gt")[1].read_text()
    assert "| oracle: S-Seg+'s recipe on ground-truth labels | 50.14 |" in text
    assert "The ground-truth oracle trains S-Seg+'s recipe" in text
    assert "hue oracle" not in text
    report["oracle"]["synthetic"]["hue"] = 44.63
    text = write_report(report, tmp_path / "hue")[1].read_text()
    rows = [line.split(" |")[0] for line in text.splitlines() if line.startswith("| oracle:")]
    assert rows[2:] == [
        "| oracle: true masks, each object named by its hue",
        "| oracle: S-Seg+'s recipe on ground-truth labels",
    ]
    assert "| oracle: true masks, each object named by its hue | 44.63 |" in text
    assert "The hue oracle keeps the true masks" in text
    report["oracle"] = {"synthetic": {"ground_truth": 50.14}}  # alone: no pseudo-mask note
    text = write_report(report, tmp_path / "gt_alone")[1].read_text()
    assert "majority ground-truth class" not in text and "The ground-truth oracle trains" in text
    assert "hue oracle" not in text
    del report["oracle"]
    assert "oracle" not in write_report(report, tmp_path / "none")[1].read_text()


def test_synthetic_oracles_use_the_sseg_recipes_pseudo_mask_settings():
    recipe = Path(__file__).resolve().parents[2] / "experiments" / "sseg" / "tiny_cpu.yaml"
    settings = pixel_settings(recipe)
    assert (settings.k, settings.grid, settings.kmeans_iters) == (4, 16, 10)
    levels = synthetic_oracles(4, 64, 0, recipe)
    assert set(levels) == {"pixel", "felzenszwalb", "hue"} and all(0.0 < v <= 100.0 for v in levels.values())
    assert set(synthetic_oracles(2, 64, 0, None)) == {"felzenszwalb", "hue"}


def test_the_confidence_ceiling_section_counts_the_classes_that_can_reach_the_threshold(tmp_path):
    ceiling = {"logit_scale": 13.4, "mean_cosine": 0.58, "max_cosine": 0.93, "bg_threshold": 0.95,
               "per_class": {"cat": 0.66, "dog": 0.98}}  # fmt: skip
    entries = {
        "A": method_entry({**trained_result(32, 50.0), "ceilings": {"synthetic": ceiling}}),
        "B": method_entry(trained_result(32, 40.0)),
    }  # fmt: skip  (B: no ceiling, like selftrain)
    report = report_of(entries, ["synthetic"])
    text = terminal_text(report)
    assert "confidence ceiling" in text and "0.66–0.98" in text and "1 of 2 (≥ 0.95)" in text
    markdown_text = write_report(report, tmp_path)[1].read_text()
    assert "## Confidence ceiling" in markdown_text
    assert "| A | synthetic | 13.4 | 0.58 / 0.93 | 0.66–0.98 | 1 of 2 (≥ 0.95) |" in markdown_text
    assert "| B |" not in markdown_text.split("## Confidence ceiling")[1].split("## Per-class")[0]


def test_real_mode_has_a_ceiling_row_per_dataset_and_none_threshold_without_background(tmp_path):
    def ceiling(threshold):
        return {"logit_scale": 100.0, "mean_cosine": 0.8, "max_cosine": 0.97, "bg_threshold": threshold,
                "per_class": {"cat": 0.999, "dog": 0.9}}  # fmt: skip

    evals = {"voc": record("voc", 40.0), "voc20": record("voc20", 70.0)}
    result = checkpoint_result(evals, ceilings={"voc": ceiling(0.95), "voc20": ceiling(None)})
    report = report_of({"A": method_entry(result)}, ["voc", "voc20"], trained=False)
    text = write_report(report, tmp_path)[1].read_text()
    assert "| A | voc | 100.0 | 0.80 / 0.97 | 0.90–1.00 | 1 of 2 (≥ 0.95) |" in text
    assert "| A | voc20 | 100.0 | 0.80 / 0.97 | 0.90–1.00 | — |" in text  # no background: no threshold


def test_naming_without_background_names_the_best_and_worst_class_of_each_method(tmp_path):
    naming = {
        "mIoU": 41.5,
        "IoU": [70.25, 12.75, float("nan")],
        "class_names": ["cat", "dog", "cow"],
        "uniform_chance": 20.1,
        "recognition_auc": 0.8125,
    }  # cow: absent from the split
    entries = {
        "A": method_entry({**trained_result(32, 9.0), "naming": naming}),
        "B": method_entry(trained_result(32, 40.0)),
    }  # fmt: skip  (B: no naming figure, like a real-mode checkpoint)
    report = report_of(entries, ["synthetic"])
    text = terminal_text(report)
    assert "naming without background" in text and "cat 70.2" in text and "dog 12.8" in text
    markdown_text = write_report(report, tmp_path)[1].read_text()
    section = markdown_text.split("## Naming without background")[1].split("## Per-class")[0]
    assert "| A | 41.50 | 20.10 | cat 70.2 | dog 12.8 | 0.81 | 90.00 | 2.50 |" in section
    assert "Recognition AUC" in section and "background pixels labelled as an object" in section
    assert "| B |" not in section and "as VOC20 and Context59 are scored" in section
    assert "## Naming without background" not in markdown(report_of({"B": entries["B"]}, ["synthetic"]))


def test_several_seeds_add_the_spread_of_every_method(tmp_path):
    entries = {"A": method_entry(trained_result(32, 21.38)), "B": method_entry(trained_result(32, 9.21))}
    report = {**report_of(entries, ["synthetic"]), "seed": 0}
    report["seed_spread"] = {
        "A": {"seeds": [0, 1, 2], "mIoU": [21.38, 11.32, 13.47], "aAcc": [25.0, 16.0, 42.0],
              "mIoU_mean": 15.39, "mIoU_std": 5.30, "aAcc_mean": 27.67, "aAcc_std": 13.2,
              "naming_mIoU": [21.9, 10.1, 3.8], "naming_mIoU_mean": 11.93, "naming_mIoU_std": 9.07,
              "recognition_auc": [0.83, 0.7, 0.6], "recognition_auc_mean": 0.71,
              "recognition_auc_std": 0.115},
        "B": {"seeds": [0, 1, 2], "mIoU": [9.21, 9.18, 9.2], "aAcc": [82.9, 82.6, 82.7],
              "mIoU_mean": 9.2, "mIoU_std": 0.015, "aAcc_mean": 82.73, "aAcc_std": 0.15},
    }  # fmt: skip
    terminal = terminal_text(report)
    assert "spread over seeds" in terminal and "15.39 ± 5.30" in terminal
    text = write_report(report, tmp_path)[1].read_text()
    assert (
        "| A | 0 1 2 | 21.38 / 11.32 / 13.47 | 15.39 ± 5.30 | 27.67 ± 13.20 | 11.93 ± 9.07 | 0.71 ± 0.12 |"
        in text
    )
    assert (
        "| B | 0 1 2 | 9.21 / 9.18 / 9.20 | 9.20 ± 0.01 | 82.73 ± 0.15 | — | — |" in text
    )  # B: no naming figure
    assert "The other tables and the pictures are seed 0's." in text
    report["seed_spread"] = None  # one seed: no section
    assert "Spread over seeds" not in write_report(report, tmp_path / "one")[1].read_text()
