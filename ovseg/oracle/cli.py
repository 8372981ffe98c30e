"""``ovseg oracle``: the mIoU of a pseudo-mask source whose every mask gets its majority GT label.

``ovseg oracle --masks dino --data voc --dino-weights model.safetensors --out oracle_voc.json``
scores a benchmark's evaluation split as the shared evaluator loads it (``SegDataModule``: images
and labels at their original size) and prints the per-class IoU, mIoU and aAcc; ``--out`` writes
them as JSON (atomically) with the source's settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ovseg.data.catalog import DATASETS, default_data_root
from ovseg.errors import OvsegUserError
from ovseg.oracle.sources import MASK_SOURCES, MaskSettings
from ovseg.subcommand import positive_int, run_subcommand

PROG = "ovseg oracle"

_DESCRIPTION = """\
The pseudo-mask oracle: every class-agnostic mask of a source takes the majority ground-truth label
of its pixels (ignored pixels never vote), and the painted images are scored like a method's
predictions (dataset-level confusion matrix, background included). The result is the upper bound of
any method that labels exactly these masks; compare sources before training on them."""

_EPILOG = """\
mask sources:
  dino          K-Means (--k) of DINO ViT-S/8 patch features at short side 224 (S-Seg's pseudo-masks);
                needs --dino-weights FILE offline (model.safetensors of timm/vit_small_patch8_224.dino)
  pixel         K-Means (--k) of colour + position on a --grid x --grid image (no weights)
  felzenszwalb  scikit-image Felzenszwalb with SegCLIP's settings (scale/sigma/min_size 224/0.9/224
                at short side 224)
  segclip       a SegCLIP checkpoint's groups (--ckpt: .ckpt, 'ovseg export' file or segclip.bin)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--masks", required=True, choices=MASK_SOURCES, help="the mask source")
    parser.add_argument("--data", required=True, choices=tuple(DATASETS), help="the evaluation benchmark")
    parser.add_argument(
        "--data-root",
        default=None,
        metavar="ROOT",
        help=f"folder holding the benchmark (default: $OVSEG_DATA_ROOT, else '{default_data_root()}')",
    )
    parser.add_argument("--limit", type=positive_int, metavar="N", help="score only the first N images")
    parser.add_argument("--ckpt", metavar="FILE", help="the SegCLIP checkpoint of --masks segclip")
    parser.add_argument("--k", type=positive_int, default=8, help="K-Means clusters (dino, pixel; default 8)")
    parser.add_argument("--grid", type=positive_int, default=16, help="the pixel source's grid side (16)")
    parser.add_argument(
        "--short-side", type=positive_int, metavar="N", help="resize for the source (dino, felzenszwalb: 224)"
    )
    parser.add_argument("--dino-weights", metavar="FILE", help="local DINO ViT-S/8 weights (dino)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the result JSON here")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, ...")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="data loader workers (2)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    return parser


def _print(record: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    metrics = record["metrics"]
    console = Console()
    console.print(
        f"oracle: {record['masks']['source']} masks on {record['dataset']}, {record['num_images']} images, "
        f"{record['masks_per_image']:.1f} masks per image"
    )
    table = Table(show_footer=True)
    table.add_column("class", footer="mIoU / aAcc")
    table.add_column("IoU", justify="right", footer=f"{metrics['mIoU']:.2f} / {metrics['aAcc']:.2f}")
    for name, iou in record["per_class_IoU"].items():
        table.add_row(name, "—" if iou != iou else f"{iou:.2f}")
    console.print(table)


def run(args: argparse.Namespace) -> dict:
    from ovseg import __version__
    from ovseg.data.segmentation import SegDataModule
    from ovseg.evaluation.report import write_json_atomic
    from ovseg.load_segmenter import resolve_device
    from ovseg.oracle.evaluate import oracle_miou
    from ovseg.oracle.sources import build_mask_source

    if args.ckpt is not None and args.masks != "segclip":
        raise OvsegUserError(f"--ckpt is for --masks segclip; --masks {args.masks} takes no checkpoint.")
    if args.dino_weights is not None and args.masks != "dino":
        raise OvsegUserError(f"--dino-weights is for --masks dino, not --masks {args.masks}.")
    if args.out is not None and args.out.is_dir():
        raise OvsegUserError(f"--out {args.out} is a folder; pass a file name such as oracle.json.")
    data = SegDataModule(args.data, args.data_root, num_workers=args.workers, limit=args.limit)
    data.check_data()  # a missing dataset names its layout before any model is loaded
    settings = MaskSettings(
        k=args.k, grid=args.grid, short_side=args.short_side, dino_weights=args.dino_weights
    )
    source = build_mask_source(args.masks, settings, resolve_device(args.device), args.ckpt)
    total = len(data.test_dataloader())  # one image per batch
    if args.no_progress:
        record = oracle_miou(source, data, args.limit)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"oracle ({args.masks})", total=total)
            record = oracle_miou(
                source, data, args.limit, progress=lambda done: bar.update(task, completed=done)
            )
    record = {"dataset": args.data, **record, "ovseg_version": __version__}
    _print(record)
    if args.out is not None:
        write_json_atomic(args.out, record)
        print(f"written to {args.out}")
    return record


def main(argv: Sequence[str]) -> int:
    """Run ``ovseg oracle`` on ``argv`` (the words after 'oracle'); returns the exit status."""
    return run_subcommand(PROG, build_parser(), argv, run)
