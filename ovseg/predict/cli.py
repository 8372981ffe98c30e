"""``ovseg predict --labels ...``: segment any images with free-text labels and a trained checkpoint.

``ovseg predict --ckpt model.ckpt --labels "cat, dog, a red car" --out preds/ photo.jpg folder/``
writes, per image, ``preds/<stem>.png`` (palette label PNG: 0 background, i the i-th label),
``preds/<stem>_overlay.png`` (colours blended on the image, with a legend) and ``preds/<stem>.json``
(per-label areas and the settings that produced them). The labels become an ad-hoc benchmark
(``DatasetSpec``) and go through the shared evaluator (``OpenVocabSegmenter.predict_scores``): the
protocol's templates, resolution and window, and its VOC background threshold, each overridable.

``ovseg predict`` without ``--labels``/``--images`` is still LightningCLI's predict subcommand
(``ovseg predict --model sseg --data voc``); ``ovseg.cli.main`` routes between the two.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ovseg.data.classnames import BACKGROUND
from ovseg.data.templates import TEMPLATE_SETS
from ovseg.errors import OvsegUserError
from ovseg.evaluation.protocols import DEFAULT_PROTOCOL, PROTOCOLS
from ovseg.subcommand import positive_int, run_subcommand

PROG = "ovseg predict"
ROUTING_FLAGS = ("--labels", "--images")
THRESHOLD_FAMILY = "voc"  # free-text labels with a background take the protocol's VOC threshold

_EPILOG = """\
outputs per image (0 is background, i the i-th label; with --no-background 0 never occurs):
  OUT/<stem>.png          8-bit palette label PNG (PASCAL VOC colours)
  OUT/<stem>_overlay.png  the labels' colours blended on the image, a legend on the right
  OUT/<stem>.json         {"image", "size": [h, w], "labels", "areas": {label: {pixels, fraction}},
                           "bg_threshold", "protocol", ...}
This command runs when the arguments hold --labels or --images; without them, 'ovseg predict' is
the LightningCLI subcommand that predicts a benchmark's images (ovseg predict --model sseg --data voc).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Segment image files with free-text labels and a SegCLIP or S-Seg checkpoint.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="*", metavar="IMAGE_OR_FOLDER", help="image files and/or folders")
    parser.add_argument("--images", nargs="+", default=[], metavar="PATH", help="more image files/folders")
    parser.add_argument(
        "--ckpt",
        required=True,
        metavar="FILE",
        help="a Lightning .ckpt, an 'ovseg export' .safetensors, or a released segclip.bin (with --model)",
    )
    parser.add_argument(
        "--labels", required=True, help='comma-separated free text, e.g. "cat, dog, a red car"'
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created)")
    parser.add_argument("--model", choices=("segclip", "sseg"), help="the method (needed for a segclip.bin)")
    parser.add_argument(
        "--protocol", choices=tuple(PROTOCOLS), default=DEFAULT_PROTOCOL, help="default: %(default)s"
    )
    parser.add_argument(
        "--bg-threshold",
        type=float,
        metavar="X",
        help="background below this best-label score (default: the protocol's VOC threshold)",
    )
    parser.add_argument("--templates", choices=tuple(TEMPLATE_SETS), help="default: the protocol's")
    parser.add_argument(
        "--no-background", action="store_true", help="every pixel gets its best label (no threshold)"
    )
    parser.add_argument("--short-side", type=positive_int, metavar="N", help="default: the protocol's")
    parser.add_argument("--mode", choices=("whole", "slide"), help="window mode (default: the protocol's)")
    parser.add_argument(
        "--crop", type=positive_int, metavar="N", help="slide window side (default: protocol's)"
    )
    parser.add_argument("--stride", type=positive_int, metavar="N", help="slide stride (default: protocol's)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1, ...")
    return parser


def _label_spec(labels: tuple[str, ...], background: bool):
    from ovseg.data.catalog import DatasetSpec

    return DatasetSpec(
        name="labels",
        class_names=labels,
        has_background=background,
        family="free-text",  # no protocol renames: the labels go into the templates as typed
        base_dir="",
        image_dir="",
        label_dir="",
        image_suffix="",
        label_suffix="",
        split_file=None,
        reduce_zero_label=False,
        num_images=0,
        how_to_prepare="free-text labels of ovseg predict: nothing to prepare.",
    )


def run(args: argparse.Namespace) -> int:
    """Check every input, load the model, then predict and write each image; returns images written."""
    import torch

    from ovseg.data.templates import get_templates
    from ovseg.evaluation.inference import labels_from_scores
    from ovseg.evaluation.protocols import get_protocol
    from ovseg.load_segmenter import load_segmenter, resolve_device
    from ovseg.predict.inputs import check_images, find_images, parse_labels, read_image
    from ovseg.predict.render import write_outputs

    background = not args.no_background
    if args.no_background and args.bg_threshold is not None:
        raise OvsegUserError("--bg-threshold and --no-background contradict each other; pass one of them.")
    labels = parse_labels(args.labels, background)
    images = find_images([*args.inputs, *args.images])
    check_images(images)
    if args.out.exists() and not args.out.is_dir():
        raise OvsegUserError(f"--out {args.out} is a file; pass a folder.")
    threshold = None
    if background:
        preset = get_protocol(args.protocol)
        threshold = (
            args.bg_threshold if args.bg_threshold is not None else preset.threshold_for(THRESHOLD_FAMILY)
        )
    evaluation = dict(protocol=args.protocol, dataset=_label_spec(labels, background), bg_threshold=threshold)
    overrides = dict(templates=args.templates, short_side=args.short_side, mode=args.mode)
    overrides.update(crop=args.crop, stride=args.stride)
    evaluation.update({key: value for key, value in overrides.items() if value is not None})
    model = load_segmenter(args.ckpt, args.model, resolve_device(args.device), **evaluation)
    protocol = model.protocol
    args.out.mkdir(parents=True, exist_ok=True)
    names = [BACKGROUND, *labels]
    settings = {
        "labels": list(labels),
        "label_values": {label: value for value, label in enumerate(labels, start=1)},
        "background": background,
        "bg_threshold": model.bg_threshold,
        "protocol": protocol.name,
        "templates": list(get_templates(protocol.templates)),
        "short_side": protocol.short_side,
        "mode": protocol.mode,
        "crop": protocol.crop,
        "stride": protocol.stride,
        "checkpoint": str(args.ckpt),
        "model": type(model).__name__,
    }
    for index, path in enumerate(images, start=1):
        rgb = read_image(path)  # (H, W, 3)
        size = rgb.shape[:2]
        tensor = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].to(model.device)  # (1, 3, H, W)
        scores = model.predict_scores(model.normalize(tensor), size)  # (1, C, H, W)
        values = labels_from_scores(scores, model.bg_threshold)[0]  # (H, W)
        if not background:
            values = values + 1  # label i is value i either way
        record = {"image": str(path), "size": list(size), **settings}
        write_outputs(args.out, path.stem, rgb, values.cpu().numpy(), names, record)
        print(f"[{index}/{len(images)}] {path} → {args.out / path.stem}{{.png,_overlay.png,.json}}")
    return len(images)


def wants_this_command(argv: Sequence[str]) -> bool:
    """Whether ``ovseg predict ARGS`` is this command (its arguments name --labels or --images)."""
    return any(arg.split("=", 1)[0] in ROUTING_FLAGS for arg in argv)


def main(argv: Sequence[str]) -> int:
    """Run ``ovseg predict`` on ``argv`` (the words after 'predict'); returns the exit status."""
    return run_subcommand(PROG, build_parser(), argv, _run_and_report)


def _run_and_report(args: argparse.Namespace) -> None:
    count = run(args)
    print(f"{count} image{'s' if count != 1 else ''} written to {args.out}")
