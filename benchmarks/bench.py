"""``make bench``: train SegCLIP and S-Seg side by side on the built-in synthetic data and compare them.

Each method's tiny CPU recipe (``experiments/<method>/tiny_cpu.yaml``) is trained for the same number
of optimisation steps on the same synthetic pairs (same seed), in a process of its own, then scored
on the synthetic evaluation split under the same protocol. The report lands in
``benchmarks/results/<run>/``: report.md, report.json and the pictures.

Run: .venv/bin/python benchmarks/bench.py [--steps N] [--seed S] [--methods segclip sseg]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ovseg.bench.chance import chance_levels
from ovseg.bench.figures import iou_bar_chart, loss_curves, prediction_grid
from ovseg.bench.report import environment, print_report, write_report
from ovseg.data.synthetic import SyntheticSegDataset

REPO = Path(__file__).resolve().parents[1]
DISPLAY_NAMES = {"segclip": "SegCLIP", "sseg": "S-Seg"}


def train_and_evaluate(alias: str, folder: Path, args: argparse.Namespace) -> dict:
    recipe = REPO / "experiments" / alias / "tiny_cpu.yaml"
    if not recipe.is_file():
        raise SystemExit(f"bench: no tiny recipe for '{alias}' at {recipe}.")
    command = [
        sys.executable, "-m", "ovseg.bench.method_run",
        "--recipe", str(recipe), "--out", str(folder), "--steps", str(args.steps),
        "--seed", str(args.seed), "--eval-limit", str(args.eval_images), "--grid", str(args.grid),
    ]  # fmt: skip
    print(f"bench: training {DISPLAY_NAMES.get(alias, alias)} for {args.steps} steps …", flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    return json.loads((folder / "result.json").read_text())


def method_entry(result: dict) -> dict:
    record = result["eval"]
    metrics = record["metrics"]
    return {
        "recipe": result["recipe"],
        "parameters": result["parameters"],
        "train": {key: value for key, value in result["train"].items() if key != "loss_curve"},
        "peak_memory_mb": result["peak_memory_mb"],
        "results": {
            record["dataset"]["name"]: {
                "mIoU": metrics["mIoU"],
                "aAcc": metrics["aAcc"],
                "mAcc": metrics["mAcc"],
                "IoU": metrics["IoU"],
                "label_names": record["dataset"]["label_names"],
                "num_images": record["dataset"]["num_images"],
                "images_per_s": result["eval_images_per_s"],
            }
        },
        "protocol": record["protocol"],
    }


def synthetic_chance(labels: np.ndarray, num_classes: int) -> dict[str, float]:
    import torch

    return chance_levels([torch.from_numpy(label) for label in labels], num_classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["segclip", "sseg"])
    parser.add_argument("--steps", type=int, default=600, help="optimisation steps per method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-images", type=int, default=256)
    parser.add_argument("--grid", type=int, default=6, help="evaluation images in the picture")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--run", default=None, help="run name (default: a timestamp)")
    args = parser.parse_args()

    run = args.run or time.strftime("%Y%m%d-%H%M%S")
    folder = args.out / run
    started = time.perf_counter()
    results = {alias: train_and_evaluate(alias, folder / alias, args) for alias in args.methods}

    entries = {DISPLAY_NAMES.get(a, a): method_entry(r) for a, r in results.items()}
    dataset = next(iter(next(iter(entries.values()))["results"]))
    saved = {DISPLAY_NAMES.get(a, a): np.load(folder / a / "predictions.npz") for a in results}
    first = next(iter(saved.values()))
    label_names = next(iter(entries.values()))["results"][dataset]["label_names"]
    names = {alias: DISPLAY_NAMES.get(alias, alias) for alias in results}
    ious = {method: entry["results"][dataset]["IoU"] for method, entry in entries.items()}
    curves = {names[alias]: result["train"]["loss_curve"] for alias, result in results.items()}
    predictions = {method: maps["predictions"] for method, maps in saved.items()}
    pictures = {
        "predictions": prediction_grid(
            first["images"], first["labels"], predictions, label_names, folder / "predictions.png"
        ),
        "per_class_iou": iou_bar_chart(label_names, ious, folder / "per_class_iou.png"),
        "training_loss": loss_curves(curves, folder / "training_loss.png"),
    }
    split = SyntheticSegDataset(length=args.eval_images, image_size=first["labels"].shape[-1])
    labels = np.stack([split[index]["label"].numpy() for index in range(len(split))])
    report = {
        "run": run,
        "mode": "synthetic",
        "protocol": next(iter(entries.values()))["protocol"]["name"],
        "datasets": [dataset],
        "budget": {"steps per method": args.steps, "seed": args.seed, "evaluation images": args.eval_images},
        "chance": {dataset: synthetic_chance(labels, len(label_names))},
        "environment": environment(),
        "methods": entries,
        "pictures": {kind: path.name for kind, path in pictures.items()},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "note": "Same synthetic pairs (seed), same steps, same evaluation for every method.",
    }
    print_report(report)
    json_path, md_path = write_report(report, folder)
    print(f"bench: report in {md_path} and {json_path} ({report['wall_seconds']} s)")


if __name__ == "__main__":
    main()
