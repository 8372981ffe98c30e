"""``ovseg predict --labels ...``: segment any images with free-text labels and a trained checkpoint.

``ovseg predict --ckpt model.ckpt --labels "cat, dog, a red car" --out preds/ photo.jpg folder/``
writes, per image, ``preds/<stem>.png`` (palette label PNG: 0 background, i the i-th label),
``preds/<stem>_overlay.png`` (colours blended on the image, with a legend) and ``preds/<stem>.json``
(per-label areas and the settings that produced them). The labels become an ad-hoc benchmark
(``DatasetSpec``) and go through the shared evaluator (``OpenVocabSegmenter.predict_scores``): the
protocol's templates, resolution and window, and its VOC background threshold, each overridable.

A selftrain checkpoint is closed-vocabulary: ``--labels`` picks some of its classes, or is omitted
for all of them (``ovseg.predict.closed_vocabulary``).

``ovseg predict`` without ``--labels``/``--images``/``--out`` is still LightningCLI's predict
subcommand (``ovseg predict --model sseg --data voc``); ``ovseg.cli.main`` routes between the two.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ovseg.data.classnames import BACKGROUND
from ovseg.data.templates import TEMPLATE_SETS
from ovseg.errors import OvsegUserError
from ovseg.evaluation.protocols import BG_RULES, DEFAULT_PROTOCOL, PROTOCOLS
from ovseg.subcommand import positive_int, run_subcommand

PROG = "ovseg predict"
ROUTING_FLAGS = ("--labels", "--images", "--out")
THRESHOLD_FAMILY = "voc"  # free-text labels with a background take the protocol's VOC threshold

_EPILOG = """\
outputs per image (0 is background, i the i-th label; with --no-background 0 never occurs):
  OUT/<stem>.png          8-bit palette label PNG (PASCAL VOC colours)
  OUT/<stem>_overlay.png  the labels' colours blended on the image, a legend on the right
  OUT/<stem>.json         {"image", "size": [h, w], "labels", "areas": {label: {pixels, fraction}},
                           "bg_threshold", "protocol", ...}
models: segclip and sseg are open-vocabulary: --labels is any free text, and is required. A selftrain
model (S-Seg+) is closed-vocabulary: --labels names some of the classes it was trained for (a pixel
of another class is background), or is omitted for all of them; its background is a class of its
own, so --bg-threshold, --templates, --bg-rule and --top-k-classes do not apply.
This command runs when the arguments hold --labels, --images or --out; without them, 'ovseg predict'
is the LightningCLI subcommand that predicts a benchmark's images (ovseg predict --model sseg --data voc).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Segment image files with free-text labels and a SegCLIP or S-Seg checkpoint, or "
        "with the classes of a selftrain (S-Seg+) checkpoint.",
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
        "--labels",
        help='comma-separated free text, e.g. "cat, dog, a red car" (segclip, sseg: required); with a '
        "selftrain model, some of its class names, or left out for all of them",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created)")
    parser.add_argument(
        "--model",
        choices=("segclip", "sseg", "selftrain"),
        help="the method, checked against --ckpt (needed for a segclip.bin)",
    )
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
        "--bg-rule",
        choices=BG_RULES,
        help="background rule: window (GroupViT), constant (TCL), threshold (default: the protocol's)",
    )
    parser.add_argument(
        "--top-k-classes",
        type=int,
        metavar="K",
        help="class filter: each window's K best labels by image-level score (0: off; default: protocol's)",
    )
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


def _evaluation(args: argparse.Namespace, background: bool) -> dict:
    """The model's evaluation settings from the command line: protocol, threshold and overrides."""
    from ovseg.evaluation.protocols import get_protocol

    threshold = None
    if background:
        preset = get_protocol(args.protocol)
        threshold = (
            args.bg_threshold if args.bg_threshold is not None else preset.threshold_for(THRESHOLD_FAMILY)
        )
    evaluation = dict(protocol=args.protocol, bg_threshold=threshold)
    overrides = dict(templates=args.templates, short_side=args.short_side, mode=args.mode)
    overrides.update(
        crop=args.crop, stride=args.stride, bg_rule=args.bg_rule, top_k_classes=args.top_k_classes
    )
    evaluation.update({key: value for key, value in overrides.items() if value is not None})
    get_protocol(args.protocol).override(**overrides)  # a bad rule fails here, before any model is built
    return evaluation


def _labels_of_model(model, labels: tuple[str, ...] | None, args: argparse.Namespace) -> tuple[str, ...]:
    """The labels to predict, with the model set to predict them: the given free text for an
    open-vocabulary model, some or all of its own classes for a closed-vocabulary one (selftrain)."""
    from ovseg.load_segmenter import model_classes, use_dataset
    from ovseg.predict.closed_vocabulary import choose_classes

    name = type(model).__name__
    classes = model_classes(model)
    if classes is None:
        if labels is None:
            raise OvsegUserError(
                f"--labels is missing: a {name} model is open-vocabulary and segments the labels it is "
                'given; pass them, e.g. --labels "cat, dog" (only a selftrain model, which predicts the '
                "classes it was trained for, may omit --labels)."
            )
        use_dataset(model, _label_spec(labels, not args.no_background))
        return labels
    closed_vocabulary_flags = (
        ("--bg-threshold", args.bg_threshold),
        ("--templates", args.templates),
        ("--bg-rule", args.bg_rule),
        ("--top-k-classes", args.top_k_classes),
    )
    for flag, value in closed_vocabulary_flags:
        if value is not None:
            raise OvsegUserError(
                f"{flag}: a {name} model is closed-vocabulary (no text, background a class of its own); "
                f"it uses no prompt templates, class filter or background rule. Drop {flag}."
            )
    use_dataset(model, _label_spec(classes, model.predicts_background()))
    return choose_classes(labels, classes, name)


def _label_values(model, scores, labels: tuple[str, ...], background: bool):
    """Label values (B, H, W) from the model's scores: 0 background, i the i-th label."""
    from ovseg.load_segmenter import model_classes
    from ovseg.predict.closed_vocabulary import closed_vocabulary_labels

    classes = model_classes(model)
    if classes is not None:
        return closed_vocabulary_labels(scores, classes, labels, model.predicts_background(), background)
    values = model.labels_from_scores(scores)  # (B, H, W): 0..C, or 0..C-1 without background
    return values if background else values + 1  # label i is value i either way


def run(args: argparse.Namespace) -> int:
    """Check every input, load the model, then predict and write each image; returns images written."""
    import torch

    from ovseg.data.templates import get_templates
    from ovseg.load_segmenter import load_segmenter, model_classes, resolve_device
    from ovseg.predict.inputs import check_images, find_images, parse_labels, read_image
    from ovseg.predict.render import write_outputs

    background = not args.no_background
    if args.no_background and args.bg_threshold is not None:
        raise OvsegUserError("--bg-threshold and --no-background contradict each other; pass one of them.")
    labels = None if args.labels is None else parse_labels(args.labels, background)
    images = find_images([*args.inputs, *args.images])
    check_images(images)
    if args.out.exists() and not args.out.is_dir():
        raise OvsegUserError(f"--out {args.out} is a file; pass a folder.")
    model = load_segmenter(
        args.ckpt, args.model, resolve_device(args.device), **_evaluation(args, background)
    )
    labels = _labels_of_model(model, labels, args)
    classes = model_classes(model)  # None: open-vocabulary, the labels are the model's classes
    protocol = model.protocol
    args.out.mkdir(parents=True, exist_ok=True)
    names = [BACKGROUND, *labels]
    settings = {
        "labels": list(labels),
        "label_values": {label: value for value, label in enumerate(labels, start=1)},
        "background": background,
        "bg_threshold": model.bg_threshold if classes is None else None,
        "background_rule": model.background_rule() if background else None,
        "class_filter": model.class_filter(),
        "protocol": protocol.name,
        "templates": list(get_templates(protocol.templates)) if classes is None else None,
        "short_side": protocol.short_side,
        "mode": protocol.mode,
        "crop": protocol.crop,
        "stride": protocol.stride,
        "checkpoint": str(args.ckpt),
        "model": type(model).__name__,
    }
    if classes is not None:
        settings["model_classes"] = list(classes)
    for index, path in enumerate(images, start=1):
        rgb = read_image(path)  # (H, W, 3)
        size = rgb.shape[:2]
        tensor = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].to(model.device)  # (1, 3, H, W)
        scores = model.predict_scores(model.normalize(tensor), size)  # (1, C, H, W) or (1, 1 + C, H, W)
        values = _label_values(model, scores, labels, background)[0]  # (H, W)
        record = {"image": str(path), "size": list(size), **settings}
        write_outputs(args.out, path.stem, rgb, values.cpu().numpy(), names, record)
        print(f"[{index}/{len(images)}] {path} → {args.out / path.stem}{{.png,_overlay.png,.json}}")
    return len(images)


def wants_this_command(argv: Sequence[str]) -> bool:
    """Whether ``ovseg predict ARGS`` is this command (its arguments name --labels, --images or --out)."""
    return any(arg.split("=", 1)[0] in ROUTING_FLAGS for arg in argv)


def main(argv: Sequence[str]) -> int:
    """Run ``ovseg predict`` on ``argv`` (the words after 'predict'); returns the exit status."""
    return run_subcommand(PROG, build_parser(), argv, _run_and_report)


def _run_and_report(args: argparse.Namespace) -> None:
    count = run(args)
    print(f"{count} image{'s' if count != 1 else ''} written to {args.out}")
