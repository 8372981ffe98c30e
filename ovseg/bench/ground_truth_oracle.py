"""The ground-truth oracle of the synthetic benchmark: S-Seg+'s recipe trained on perfect labels.

S-Seg+ trains the tiny selftrain recipe on S-Seg's labels of S-Seg's training scenes. This oracle
trains the same recipe, for the same steps and seed, on the ground-truth masks of those same
scenes instead. Its mIoU is what S-Seg+ would reach with a perfect teacher, and what full
supervision reaches at this budget: the ceiling a text-supervised method is measured against.

The ground truth is written as a pseudo-label folder (``ovseg.pseudo_label.files``: one palette PNG
per scene, 255 where the scene's own mask ignores a pixel), so the selftrain data module reads it
like any other. The folder is built under a temporary name and renamed when whole.

    python -m ovseg.bench.ground_truth_oracle --out DIR --num-images 4096 --image-size 64 --seed 0
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ovseg.bench.jobs import Step, read_result
from ovseg.bench.self_training import selftrain_step
from ovseg.data.catalog import get_dataset_spec
from ovseg.data.synthetic import render_scene
from ovseg.data.unlabeled import synthetic_name
from ovseg.evaluation.report import write_json_atomic
from ovseg.pseudo_label.files import MANIFEST, label_path, label_values, write_label_png

KEY = "ground_truth"  # its entry among the report's oracles
FOLDER = "oracle_ground_truth"  # under the run folder: labels/ and the selftrain run


def write_ground_truth_labels(out: Path, num_images: int, image_size: int, seed: int) -> dict:
    """The ground-truth masks of synthetic training scenes 0..num_images-1 as a pseudo-label folder
    at ``out`` (which must not exist yet); returns its manifest."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists already; the ground-truth labels go into a new folder.")
    spec = get_dataset_spec("synthetic")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        for index in range(num_images):
            mask = render_scene(seed, index, "train", image_size).mask  # (S, S) 0 bg, 1..8, 255 ignore
            write_label_png(label_path(partial, synthetic_name(seed, index)), mask, keep_ignore=True)
        manifest = {
            "checkpoint": None,
            "model": "ground truth",
            "dataset": spec.name,
            "split": "train",
            "class_names": list(spec.class_names),
            "has_background": spec.has_background,
            "num_images": num_images,
            "image_size": image_size,
            "seed": seed,
            "data_root": None,
            "count": num_images,
            "complete": True,
            "label_values": label_values(spec),
            "format": "8-bit palette PNG per image, DIR/<name>.png; 255: ignored (the scene's own mask)",
        }
        write_json_atomic(partial / MANIFEST, manifest)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def ground_truth_steps(teacher_out: Path, out: Path, recipe: Path, method_args: list[str]) -> list[Step]:
    """Write the ground truth of S-Seg's training scenes, then train and score the selftrain recipe
    on it, with the arguments S-Seg+ gets (``method_args``: seed, steps, evaluation)."""
    data = read_result(teacher_out)["train"]["data"]
    labels = out / "labels"
    write = [
        "--out", str(labels), "--num-images", str(data["synthetic_length"]),
        "--image-size", str(data["image_size"]), "--seed", str(data["seed"]),
    ]  # fmt: skip
    return [
        Step(f"writing the ground truth of {data['synthetic_length']} training scenes", __name__, write,
             out / "labels.log"),
        selftrain_step("training the ground-truth oracle (S-Seg+'s recipe on ground-truth labels)", recipe,
                       out, labels, data["image_size"], method_args),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a new folder")
    parser.add_argument("--num-images", type=int, required=True, help="training scenes 0..N-1")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0, help="the scenes' stream (the data seed)")
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error(f"--num-images must be at least 1, got {args.num_images}")
    manifest = write_ground_truth_labels(args.out, args.num_images, args.image_size, args.seed)
    print(f"wrote the ground truth of {manifest['count']} training scenes to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
