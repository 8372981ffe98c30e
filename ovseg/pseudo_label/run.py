"""S-Seg+ step 1: a trained segmenter labels the target dataset's UNLABELED training images.

Each image is predicted exactly as the shared evaluator predicts it (``predict_labels``: the
protocol's resolution and windows, then its background rule with the model's threshold for that
benchmark), and its label map is written as a PNG (``ovseg.pseudo_label.files``). The images come
from ``ovseg.data.unlabeled``, which never opens a label file. Resumable and atomic: an image whose
PNG exists is skipped before it is even read.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from ovseg.data.catalog import DATASETS, DatasetSpec, default_data_root, get_dataset_spec
from ovseg.data.unlabeled import SYNTHETIC_IMAGES, list_unlabeled
from ovseg.errors import OvsegUserError
from ovseg.evaluation.protocols import DEFAULT_PROTOCOL
from ovseg.evaluation.report import write_json_atomic
from ovseg.pseudo_label.files import (
    MANIFEST,
    SETTINGS,
    PseudoLabelSettings,
    label_path,
    label_values,
    read_json,
    sha256_of,
    write_label_png,
)

Progress = Callable[[int, int], None]  # (done, total)


def _claim(folder: Path, settings: PseudoLabelSettings) -> None:
    """Stamp a new folder with ``settings``, or check that an existing folder was made with them."""
    wanted = json.loads(json.dumps(dataclasses.asdict(settings)))
    path = folder / SETTINGS
    if path.is_file():
        existing = read_json(path)
        if existing != wanted:
            changed = sorted(key for key in wanted if existing.get(key) != wanted[key])
            raise OvsegUserError(
                f"'{folder}' holds pseudo-labels made with other settings ({', '.join(changed)} differ: "
                f"{ {key: existing.get(key) for key in changed} }); pass another --out, or delete the "
                "folder to start over."
            )
        return
    write_json_atomic(path, wanted)


def pseudo_label_folder(
    checkpoint: str | os.PathLike,
    data_name: str,
    out: str | os.PathLike,
    limit: int | None = None,
    *,
    method: str | None = None,
    split: str = "train",
    data_root: str | os.PathLike | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    bg_threshold: float | None = None,
    num_images: int = SYNTHETIC_IMAGES,
    image_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    num_workers: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Write a label PNG per unlabeled image of ``data_name``'s ``split`` into ``out``; returns the
    manifest (also written to ``out/pseudo_labels.json``, last) plus ``written``/``skipped`` counts.

    Args:
        checkpoint: an ovseg Lightning ``.ckpt``, an ``ovseg export`` file, or released weights
            (then ``method`` names the method); anything ``ovseg.load_segmenter`` builds. A selftrain
            model (closed-vocabulary) labels only a benchmark of the classes it was trained for: the
            next round of self-training on its own benchmark.
        data_name: the target benchmark (voc, context, coco, ..., synthetic).
        out: the pseudo-label folder (created; a folder of the same settings is resumed).
        limit: label only the first ``limit`` images of the split.
        method: segclip, sseg or selftrain, checked against the checkpoint (needed for released
            weights).
        split: the split whose images are labelled (its labels are never read).
        data_root: folder holding the benchmark (default: $OVSEG_DATA_ROOT, else "data").
        protocol: the evaluation protocol whose inference and background rule make the labels.
        bg_threshold: override the protocol's background threshold for this benchmark.
        num_images, image_size, seed: the synthetic benchmark's training scenes (count, side, stream).
        device: auto, cpu, cuda, ...
        num_workers: image-reading processes.
        progress: called with (done, total) after each image.

    Raises:
        OvsegUserError: a missing dataset (naming its layout and how to prepare it), a missing or
            unfitting checkpoint, a selftrain checkpoint of other classes than the benchmark's, a
            folder made with other settings.
    """
    from ovseg.load_segmenter import load_segmenter, resolve_device, use_dataset

    spec = get_dataset_spec(data_name)
    root = default_data_root(None if data_root is None else str(data_root))
    images = list_unlabeled(spec, root, split, num_images, seed, image_size)  # fails before the model
    if limit is not None and limit < 1:
        raise OvsegUserError(f"--limit must be at least 1, got {limit}.")
    if not Path(checkpoint).expanduser().is_file():
        raise OvsegUserError(
            f"--ckpt {checkpoint}: no such file (a Lightning .ckpt, .safetensors or weights)."
        )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OvsegUserError(f"--out {out} is a file; pass a folder.")
    evaluation = {"protocol": protocol}
    if bg_threshold is not None:
        evaluation["bg_threshold"] = bg_threshold
    model = load_segmenter(checkpoint, method, resolve_device(device), **evaluation)
    _check_classes(model, spec, checkpoint)
    if bg_threshold is not None and model.predicts_background():
        raise OvsegUserError(
            f"--bg-threshold: a {type(model).__name__} model scores background as a class of its own "
            "(a pixel's label is the argmax over background and classes), so no threshold is used; "
            "drop --bg-threshold."
        )
    use_dataset(model, spec)
    settings = PseudoLabelSettings(
        checkpoint=str(Path(checkpoint).expanduser().resolve()),
        checkpoint_sha256=sha256_of(Path(checkpoint).expanduser()),
        model=type(model).__name__,
        dataset=spec.name,
        split=split,
        protocol=model.protocol.name,
        bg_threshold=None if model.predicts_background() else model.bg_threshold,
        background_rule=model.background_rule(),
        class_names=spec.class_names,
        has_background=spec.has_background,
        num_images=len(images),
        image_size=image_size if spec.generated else None,
        seed=seed if spec.generated else None,
    )
    out.mkdir(parents=True, exist_ok=True)
    _claim(out, settings)

    chosen = range(min(limit, len(images)) if limit is not None else len(images))
    pending = [index for index in chosen if not label_path(out, images.names[index]).is_file()]
    skipped = len(chosen) - len(pending)
    loader = DataLoader(Subset(images, pending), batch_size=None, num_workers=num_workers)
    if progress is not None:
        progress(skipped, len(chosen))
    for done, item in enumerate(loader, start=skipped + 1):
        image = item["image"][None].to(model.device)  # (1, 3, H, W) uint8
        labels = model.predict_labels(model.normalize(image), tuple(image.shape[-2:]))[0]  # (H, W)
        write_label_png(label_path(out, item["name"]), labels.to(torch.uint8).cpu().numpy())
        if progress is not None:
            progress(done, len(chosen))
    count = sum(label_path(out, name).is_file() for name in images.names)  # this run's and earlier ones'
    manifest = {
        **json.loads(json.dumps(dataclasses.asdict(settings))),
        "data_root": None if spec.generated else str(Path(root).resolve()),
        "count": count,
        "complete": count == len(images),
        "label_values": label_values(spec),
        "format": "8-bit palette PNG per image, DIR/<name>.png; 255 never written",
    }
    write_json_atomic(out / MANIFEST, manifest)
    return {**manifest, "written": len(pending), "skipped": skipped}


def _check_classes(model, spec: DatasetSpec, checkpoint: str | os.PathLike) -> None:
    """A closed-vocabulary model (selftrain) labels only a benchmark of exactly its own classes."""
    from ovseg.load_segmenter import describe_classes, model_classes

    classes = model_classes(model)
    if classes is None:
        return  # open-vocabulary: any benchmark's class names
    background = model.predicts_background()
    if classes == spec.class_names and background == spec.has_background:
        return
    fits = [
        name
        for name, other in DATASETS.items()
        if (other.class_names, other.has_background) == (classes, background)
    ]
    fix = f"Pseudo-label --data {' or '.join(fits)} with it" if fits else "Pseudo-label its own benchmark"
    raise OvsegUserError(
        f"--ckpt {checkpoint} is a closed-vocabulary {type(model).__name__} model: it predicts only the "
        f"{describe_classes(classes, background)} it was trained for, but --data {spec.name} has "
        f"{describe_classes(spec.class_names, spec.has_background)}. {fix}, or label {spec.name} with an "
        "open-vocabulary checkpoint (segclip, sseg)."
    )
