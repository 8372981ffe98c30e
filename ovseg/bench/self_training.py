"""S-Seg+ in the synthetic benchmark: S-Seg's trained model labels the training scenes it learned
from (captions unused), then the tiny selftrain recipe trains a fully supervised segmenter on them.

Its steps are planned once S-Seg has finished, from what S-Seg's run reports (training scenes,
size, seed), so the pseudo-labelled images are exactly the scenes of S-Seg's training pairs.
"""

from __future__ import annotations

from pathlib import Path

from ovseg.bench.jobs import Step, read_result

ALIAS = "sseg+"  # the --methods name; it needs "sseg", its teacher
TEACHER = "sseg"
RECIPE = "experiments/selftrain/tiny_cpu.yaml"
FOLDER = "sseg_plus"  # under the run folder: pseudo_labels/ and the selftrain run


def self_training_steps(
    teacher_out: Path, out: Path, recipe: Path, protocol: str, method_args: list[str]
) -> list[Step]:
    """Pseudo-label S-Seg's training scenes, then train and score selftrain on them.

    Args:
        teacher_out: S-Seg's run folder (``model.ckpt`` and ``result.json``).
        out: S-Seg+'s folder.
        recipe: the selftrain recipe.
        protocol: the benchmark's protocol (also the pseudo-labels' background rule).
        method_args: ``method_run`` arguments shared by every method (seed, evaluation, steps).
    """
    data = read_result(teacher_out)["train"]["data"]
    labels = out / "pseudo_labels"
    pseudo_label = [
        "pseudo-label", "--model", TEACHER, "--ckpt", str(teacher_out / "model.ckpt"),
        "--data", "synthetic", "--out", str(labels), "--protocol", protocol,
        "--num-images", str(data["synthetic_length"]), "--image-size", str(data["image_size"]),
        "--seed", str(data["seed"]), "--device", "auto", "--workers", "0", "--no-progress",
    ]  # fmt: skip
    return [
        Step(f"pseudo-labelling {data['synthetic_length']} training scenes with S-Seg", "ovseg", pseudo_label,
             out / "pseudo_label.log"),
        selftrain_step("training S-Seg+ (selftrain on S-Seg's pseudo-labels)", recipe, out, labels,
                       data["image_size"], method_args),
    ]  # fmt: skip


def selftrain_step(
    what: str, recipe: Path, out: Path, labels: Path, image_size: int, method_args: list[str]
) -> Step:
    """Train and score the selftrain ``recipe`` on the label folder ``labels`` into ``out``."""
    train = [
        "--recipe", str(recipe), "--out", str(out), *method_args,
        "--data.init_args.pseudo_labels", str(labels), "--data.init_args.image_size", str(image_size),
    ]  # fmt: skip
    return Step(what, "ovseg.bench.method_run", train, out / "train.log")
