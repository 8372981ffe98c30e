"""``ovseg prepare NAME``: turn raw dataset downloads into the layouts the evaluation loaders read.

Outputs land where ``ovseg.data.catalog`` looks for them under the same data root, so
``ovseg test --data NAME --data-root ROOT`` reads them unchanged. ``superpixels`` and
``pseudo-masks`` instead build training caches from image-text pair sources (``--source``, ``--cache``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from ovseg.data.catalog import default_data_root
from ovseg.data.prepare import convert
from ovseg.errors import OvsegUserError
from ovseg.subcommand import parse_or_status, positive_int, user_error_status

PROG = "ovseg prepare"
SUPERPIXELS_MODULE = "ovseg.data.superpixels"
PSEUDO_MASKS_MODULE = "ovseg.methods.sseg.prepare"

_COCO_HELP = """\
COCO-Object (background + 80) labels from COCO-Stuff-164k's raw stuff+thing maps.

Raw download: stuffthingmaps_trainval2017.zip (COCO-Stuff-164k, github.com/nightrome/cocostuff),
unzipped into ROOT/coco_stuff164k/annotations/ (giving annotations/val2017/*.png, mmseg's layout)
or into ROOT/coco_stuff164k/stuffthingmaps_trainval2017/. Only the splits asked for are needed.
Writes ROOT/coco_stuff164k/annotations/{split}2017/{id}_instanceTrainIds.png, and with --stuff
also {id}_labelTrainIds.png (COCO-Stuff, 171 classes, 255 unlabeled).
Evaluation also needs the COCO 2017 images: val2017.zip (cocodataset.org) unzipped into
ROOT/coco_stuff164k/images/ (giving images/val2017/*.jpg); they are not converted.
"""

_CONTEXT_HELP = """\
PASCAL-Context (background + 59) labels and split lists, without the 'detail' package.

Raw downloads: VOCtrainval_03-May-2010.tar (PASCAL VOC 2010, host.robots.ox.ac.uk) extracted into
ROOT/ (giving ROOT/VOCdevkit/VOC2010/JPEGImages/*.jpg), and PASCAL-Context's trainval_merged.json
(PASCAL in Detail format) put at ROOT/VOCdevkit/VOC2010/trainval_merged.json (or pass --json).
Writes ROOT/VOCdevkit/VOC2010/SegmentationClassContext/{name}.png (values 0..59) and
ROOT/VOCdevkit/VOC2010/ImageSets/SegmentationContext/{train,val}.txt.
Needs memory for the whole JSON (about 590 MB on disk).
"""

_SUPERPIXELS_HELP = "Superpixel masks (run 'ovseg prepare superpixels --help' for its inputs)."
_PSEUDO_MASKS_HELP = "S-Seg's DINO + K-Means pseudo-masks (run 'ovseg prepare pseudo-masks --help')."
_SUPERPIXELS_DESCRIPTION = (
    "SegCLIP's Felzenszwalb superpixel map of every image of an image-text source, cached for "
    "training with --data.superpixels true --data.superpixel_cache CACHE. Resumable."
)
_PSEUDO_MASKS_DESCRIPTION = (
    "S-Seg's pseudo-masks: DINO patch features + K-Means, one cluster map per image of an image-text "
    "source, cached for training with --model.pseudo_mask_cache CACHE. Resumable."
)

_EPILOG = """\
converters and the raw downloads they need:
  coco-object   stuffthingmaps_trainval2017.zip → ROOT/coco_stuff164k/ (+ COCO val2017 images)
  context       VOCtrainval_03-May-2010.tar → ROOT/, trainval_merged.json → ROOT/VOCdevkit/VOC2010/
  superpixels   see 'ovseg prepare superpixels --help'
  pseudo-masks  see 'ovseg prepare pseudo-masks --help'
Every converter is resumable: complete outputs are skipped, so run it again after an interruption.
"""


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-root",
        type=Path,
        metavar="ROOT",
        default=default_data_root(),
        help="the evaluation loaders' data root (default: $OVSEG_DATA_ROOT, else 'data': %(default)s)",
    )
    common.add_argument(
        "--workers", type=positive_int, default=1, metavar="N", help="processes to convert with (default 1)"
    )
    common.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    return common


def build_parser(
    with_superpixels: ModuleType | None = None, with_pseudo_masks: ModuleType | None = None
) -> argparse.ArgumentParser:
    """The ``ovseg prepare`` parser; ``with_superpixels`` / ``with_pseudo_masks`` are the loaded hook
    modules of those commands, if wanted."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert raw dataset downloads into the layouts 'ovseg test --data NAME' reads.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = parser.add_subparsers(dest="name", metavar="NAME", required=True)
    raw = argparse.RawDescriptionHelpFormatter

    coco = names.add_parser(
        "coco-object",
        parents=[_common_options()],
        help="COCO-Object labels",
        description=_COCO_HELP,
        formatter_class=raw,
    )
    coco.add_argument(
        "--stuffthingmaps",
        type=Path,
        metavar="DIR",
        help="folder holding {train2017,val2017}/*.png raw maps (default: ROOT/coco_stuff164k/"
        "stuffthingmaps_trainval2017 if it exists, else ROOT/coco_stuff164k/annotations)",
    )
    coco.add_argument("--splits", nargs="+", choices=("train", "val"), default=["val"], help="default: val")
    coco.add_argument("--stuff", action="store_true", help="also write COCO-Stuff-171 *_labelTrainIds.png")
    coco.add_argument("--overwrite", action="store_true", help="rewrite outputs that are already complete")
    coco.set_defaults(handler=_run_coco)

    context = names.add_parser(
        "context",
        parents=[_common_options()],
        help="PASCAL-Context labels",
        description=_CONTEXT_HELP,
        formatter_class=raw,
    )
    context.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="trainval_merged.json (default: ROOT/VOCdevkit/VOC2010/trainval_merged.json)",
    )
    context.add_argument("--overwrite", action="store_true", help="rewrite outputs that are already complete")
    context.set_defaults(handler=_run_context)

    # The cache builders read image-text pair sources, not the benchmarks' data root: their hook
    # modules define every option they take (--workers and --no-progress included), nothing else.
    superpixels = names.add_parser(
        "superpixels", help=_SUPERPIXELS_HELP, description=_SUPERPIXELS_DESCRIPTION
    )
    if with_superpixels is not None:
        with_superpixels.add_prepare_arguments(superpixels)
        superpixels.set_defaults(handler=with_superpixels.run_prepare)
    pseudo_masks = names.add_parser(
        "pseudo-masks", help=_PSEUDO_MASKS_HELP, description=_PSEUDO_MASKS_DESCRIPTION
    )
    if with_pseudo_masks is not None:
        with_pseudo_masks.add_prepare_arguments(pseudo_masks)
        pseudo_masks.set_defaults(handler=with_pseudo_masks.run_prepare)
    return parser


def _load_pseudo_masks() -> ModuleType:
    """The pseudo-masks hooks (lazily imported: torch, timm), or an OvsegUserError saying why not."""
    try:
        module = importlib.import_module(PSEUDO_MASKS_MODULE)
    except ModuleNotFoundError as error:
        if not PSEUDO_MASKS_MODULE.startswith(str(error.name)):
            raise
        module = None
    if not all(hasattr(module, f) for f in ("add_prepare_arguments", "run_prepare")):
        raise OvsegUserError(
            f"pseudo-masks is not available in this version of ovseg ({PSEUDO_MASKS_MODULE} is missing)."
        )
    return module


def _load_superpixels() -> ModuleType:
    """The superpixels module, or an OvsegUserError saying why this version cannot run it."""
    try:
        module = importlib.import_module(SUPERPIXELS_MODULE)
    except ImportError as error:
        if not (isinstance(error, ModuleNotFoundError) and error.name == SUPERPIXELS_MODULE):
            raise OvsegUserError(f"superpixels cannot be loaded ({error}); reinstall ovseg.") from None
        module = None
    if not all(hasattr(module, f) for f in ("add_prepare_arguments", "run_prepare")):
        raise OvsegUserError(
            f"superpixels is not available in this version of ovseg ({SUPERPIXELS_MODULE} is missing). "
            "Available now: coco-object, context."
        )
    return module


def _run_coco(args: argparse.Namespace) -> None:
    from ovseg.data.convert_coco import image_dir

    counts = convert(
        "coco-object",
        args.data_root,
        splits=tuple(dict.fromkeys(args.splits)),
        stuffthingmaps=args.stuffthingmaps,
        stuff=args.stuff,
        progress=not args.no_progress,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    _report("coco-object", counts, "raw maps")
    for split in dict.fromkeys(args.splits):
        images = image_dir(args.data_root, split)
        if not any(images.glob("*.jpg")):
            print(
                f"note: no images in '{images}'; evaluation also needs the COCO 2017 {split} images "
                f"({split}2017.zip from cocodataset.org, unzipped into '{images.parent}').",
                file=sys.stderr,
            )


def _run_context(args: argparse.Namespace) -> None:
    counts = convert(
        "context",
        args.data_root,
        json_path=args.json,
        progress=not args.no_progress,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    _report("context", counts, "images")
    print(f"split lists: {counts['train']} train, {counts['val']} val ({counts['lists_written']} rewritten).")
    if counts["missing_images"]:
        print(
            f"note: {counts['missing_images']} images of the JSON have no JPEG in "
            f"'{args.data_root}/VOCdevkit/VOC2010/JPEGImages'; re-extract VOCtrainval_03-May-2010.tar.",
            file=sys.stderr,
        )


def _report(name: str, counts: dict[str, int], inputs: str) -> None:
    print(
        f"{name}: {counts['inputs']} {inputs}; {counts['written']} labels written, "
        f"{counts['skipped']} skipped (already complete), {counts['replaced']} replaced (were incomplete)."
    )


def main(argv: Sequence[str]) -> int:
    """Run ``ovseg prepare`` on ``argv`` (the words after 'prepare'); returns the exit status."""
    argv = list(argv)
    try:
        module = _load_superpixels() if argv[:1] == ["superpixels"] else None
        pseudo_masks = _load_pseudo_masks() if argv[:1] == ["pseudo-masks"] else None
        args = parse_or_status(build_parser(module, pseudo_masks), argv)
        if isinstance(args, int):
            return args
        args.handler(args)
    except OvsegUserError as error:
        return user_error_status(PROG, error)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    return 0
