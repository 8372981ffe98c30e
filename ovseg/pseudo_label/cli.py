"""``ovseg pseudo-label``: a trained checkpoint labels a benchmark's unlabeled training images.

``ovseg pseudo-label --model sseg --ckpt sseg.ckpt --data voc --split train --out pl/voc`` writes
``pl/voc/<image id>.png`` per image and ``pl/voc/pseudo_labels.json`` last; then
``ovseg fit --model selftrain -c experiments/selftrain/voc_mae.yaml --data.pseudo_labels pl/voc``
trains S-Seg+'s supervised segmenter on them. A selftrain checkpoint labels its own benchmark again
(iterative self-training): ``ovseg pseudo-label --ckpt selftrain.ckpt --data voc --out pl/voc-2``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ovseg.data.catalog import DATASETS, default_data_root
from ovseg.data.unlabeled import SYNTHETIC_IMAGES
from ovseg.evaluation.protocols import DEFAULT_PROTOCOL, PROTOCOLS
from ovseg.subcommand import positive_int, run_subcommand

PROG = "ovseg pseudo-label"

_EPILOG = """\
outputs (see ovseg.pseudo_label.files):
  OUT/<name>.png                  8-bit palette label PNG; 0 background, k+1 class k (no 255)
  OUT/pseudo_label_settings.json  the settings, written first; a rerun must use the same ones
  OUT/pseudo_labels.json          the manifest (checkpoint, dataset, protocol, threshold, count),
                                  written last
Rerunning the same command skips images whose PNG exists: an interrupted run resumes and ends with
the same files as an uninterrupted one. The ground truth of --split is never read.
--ckpt: a segclip or sseg model (open-vocabulary: any --data), or a selftrain model, which labels
only a --data of the classes (and background) it was trained for: the next self-training round.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Label a benchmark's unlabeled training images with a trained segmenter (S-Seg+).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--ckpt", required=True, metavar="FILE", help="a .ckpt, 'ovseg export' file or weights"
    )
    parser.add_argument(
        "--model",
        choices=("segclip", "sseg", "selftrain"),
        help="the method, checked against --ckpt (needed for released weights); a selftrain model "
        "labels only a benchmark of the classes it was trained for",
    )
    parser.add_argument("--data", required=True, choices=tuple(DATASETS), help="the target benchmark")
    parser.add_argument("--split", default="train", help="the split whose images are labelled (train)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created)")
    parser.add_argument(
        "--data-root",
        metavar="ROOT",
        help=f"folder holding the benchmark (default: $OVSEG_DATA_ROOT, else '{default_data_root()}')",
    )
    parser.add_argument("--limit", type=positive_int, metavar="N", help="label only the first N images")
    parser.add_argument(
        "--protocol", choices=tuple(PROTOCOLS), default=DEFAULT_PROTOCOL, help="default: %(default)s"
    )
    parser.add_argument(
        "--bg-threshold", type=float, metavar="X", help="default: the protocol's for the benchmark"
    )
    synthetic = parser.add_argument_group("the synthetic benchmark's training scenes (--data synthetic)")
    synthetic.add_argument(
        "--num-images", type=positive_int, default=SYNTHETIC_IMAGES, help="scenes (default: %(default)s)"
    )
    synthetic.add_argument("--image-size", type=positive_int, default=64, help="side (default: %(default)s)")
    synthetic.add_argument("--seed", type=int, default=0, help="stream of the training pairs (default: 0)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, ...")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="image-reading processes (2)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    return parser


def run(args: argparse.Namespace) -> dict:
    from ovseg.pseudo_label.run import pseudo_label_folder

    options = dict(
        method=args.model,
        split=args.split,
        data_root=args.data_root,
        protocol=args.protocol,
        bg_threshold=args.bg_threshold,
        num_images=args.num_images,
        image_size=args.image_size,
        seed=args.seed,
        device=args.device,
        num_workers=args.workers,
    )
    if args.no_progress:
        return pseudo_label_folder(args.ckpt, args.data, args.out, args.limit, **options)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("pseudo-labels"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("pseudo-labels", total=None)
        return pseudo_label_folder(
            args.ckpt,
            args.data,
            args.out,
            args.limit,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            **options,
        )


def main(argv: Sequence[str]) -> int:
    """Run ``ovseg pseudo-label`` on ``argv`` (the words after 'pseudo-label'); the exit status."""
    return run_subcommand(PROG, build_parser(), argv, _run_and_report)


def _run_and_report(args: argparse.Namespace) -> None:
    manifest = run(args)
    state = "all" if manifest["complete"] else f"{manifest['count']} of {manifest['num_images']}"
    print(
        f"{manifest['written']} written, {manifest['skipped']} skipped (already there): {state} images "
        f"of {manifest['dataset']} {manifest['split']} labelled in {args.out} "
        f"(manifest {args.out / 'pseudo_labels.json'})"
    )
