"""PASCAL-Context (background + 59) label maps from ``trainval_merged.json``, without ``detail``.

The JSON is the PASCAL-in-Detail format: ``images`` (``image_id``, ``file_name``, ``height``,
``width``, ``phase``), ``categories`` and ``annos_segmentation`` (``image_id``, ``category_id``,
``segmentation`` as COCO RLE). Field names and the painting order were checked against the Detail
API's ``Detail.getMask`` and mmsegmentation's ``tools/dataset_converters/pascal_context.py``:

- getMask starts from zeros and paints each annotation of the image in file order with its category
  id, a later annotation overwriting an earlier one where they overlap; mmseg then maps every
  painted id to its index in the sorted 60-id table CONTEXT_CATEGORY_IDS. Painting the index
  directly gives the same map, so that is what happens here.
- A category outside the table becomes 0 (background), also where it overwrites an earlier
  annotation (mmseg's converter asserts on such ids instead); unannotated pixels are 0.
- Outputs are named after ``file_name`` (``2008_000002.png``), split lists hold the sorted stems of
  the images whose ``phase`` is train or val, as mmseg writes them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from ovseg.data.catalog import get_dataset_spec
from ovseg.data.prepare import (
    SKIPPED,
    WRITTEN,
    MissingInputError,
    PrepareError,
    output_status,
    remove_stale_temps,
    run_tasks,
    write_png,
    write_text,
)

CONTEXT_CATEGORY_IDS: tuple[int, ...] = (
    0, 2, 9, 18, 19, 22, 23, 25, 31, 33, 34, 44, 45, 46, 59, 65, 68, 72, 80, 85, 98, 104, 105, 113,
    115, 144, 158, 159, 162, 187, 189, 207, 220, 232, 258, 259, 260, 284, 295, 296, 308, 324, 326,
    347, 349, 354, 355, 360, 366, 368, 397, 415, 416, 420, 424, 427, 440, 445, 454, 458,
)  # fmt: skip
CONTEXT_INDEX: dict[int, int] = {category: index for index, category in enumerate(CONTEXT_CATEGORY_IDS)}
JSON_NAME = "trainval_merged.json"
VOC2010_TAR = "VOCtrainval_03-May-2010.tar"
PHASES = ("train", "val")

Annotation = tuple[int, dict]  # (category_id, COCO RLE)


def decode_rle(segmentation: dict, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of one COCO RLE, compressed (string counts) or not (list counts)."""
    with warnings.catch_warnings():  # pycocotools' decoder trips NumPy 2's copy= deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        if isinstance(segmentation.get("counts"), list):
            segmentation = mask_utils.frPyObjects(segmentation, height, width)
        return mask_utils.decode(segmentation).astype(bool)  # (H, W)


def render_label(height: int, width: int, annotations: Sequence[Annotation]) -> np.ndarray:
    """(H, W) uint8 map 0..59: the annotations painted in order, later ones on top."""
    label = np.zeros((height, width), dtype=np.uint8)  # (H, W) unannotated → 0
    for category_id, segmentation in annotations:
        label[decode_rle(segmentation, height, width)] = CONTEXT_INDEX.get(category_id, 0)
    return label


def _convert_image(task: tuple[Path, int, int, list[Annotation], bool]) -> list[str]:
    path, height, width, annotations, overwrite = task
    status = output_status(path, (width, height))
    if status == SKIPPED and not overwrite:
        return [SKIPPED]
    write_png(render_label(height, width, annotations), path)
    return [WRITTEN if status == SKIPPED else status]


def _field(record: dict, key: str, what: str, json_path: Path) -> Any:
    if key not in record:
        raise PrepareError(
            f"'{json_path}': an entry of '{what}' has no '{key}' field, so this is not PASCAL-Context's "
            f"{JSON_NAME} (Detail API format); download it again."
        )
    return record[key]


def load_detail_json(json_path: Path) -> tuple[list[dict], dict[Any, list[Annotation]]]:
    """The train/val images of ``trainval_merged.json`` and each image's annotations, in file order."""
    try:
        with json_path.open() as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PrepareError(
            f"'{json_path}' is not valid JSON ({error}); download {JSON_NAME} again."
        ) from None
    for key in ("images", "annos_segmentation"):
        if not isinstance(data, dict) or key not in data:
            raise PrepareError(
                f"'{json_path}' has no '{key}' list, so it is not PASCAL-Context's {JSON_NAME} "
                "(Detail API format); download it again."
            )
    images = [i for i in data["images"] if _field(i, "phase", "images", json_path) in PHASES]
    by_image: dict[Any, list[Annotation]] = {_field(i, "image_id", "images", json_path): [] for i in images}
    for ann in data["annos_segmentation"]:
        image_id = _field(ann, "image_id", "annos_segmentation", json_path)
        if image_id in by_image:
            category = _field(ann, "category_id", "annos_segmentation", json_path)
            by_image[image_id].append(
                (category, _field(ann, "segmentation", "annos_segmentation", json_path))
            )
    return images, by_image


def _check_sizes(image: dict, annotations: list[Annotation], json_path: Path) -> tuple[int, int]:
    height = int(_field(image, "height", "images", json_path))
    width = int(_field(image, "width", "images", json_path))
    for _, segmentation in annotations:
        if list(segmentation.get("size", [])) != [height, width]:
            raise PrepareError(
                f"'{json_path}': an annotation of {image['file_name']} has size {segmentation.get('size')} "
                f"but the image is {height}x{width}; the file is damaged — download {JSON_NAME} again."
            )
    return height, width


def convert_context(
    root: str | Path,
    json_path: str | Path | None = None,
    progress: bool = True,
    workers: int = 1,
    overwrite: bool = False,
) -> dict[str, int]:
    """Write ``SegmentationClassContext/{name}.png`` and ``ImageSets/SegmentationContext/{split}.txt``.

    Args:
        root: data root holding ``VOCdevkit/VOC2010/JPEGImages``.
        json_path: PASCAL-Context ``trainval_merged.json`` (default: ``VOCdevkit/VOC2010/`` under root).
        progress: show a progress bar.
        workers: processes to convert with.
        overwrite: rewrite outputs that are already complete.

    Returns:
        {"inputs", "written", "skipped", "replaced", "train", "val" (images per split list),
        "lists_written", "missing_images" (train/val images without a JPEG)}.
    """
    spec = get_dataset_spec("context")
    base = Path(root) / spec.base_dir
    jpeg_dir = base / spec.image_dir
    json_path = Path(json_path) if json_path is not None else base / JSON_NAME
    if not jpeg_dir.is_dir():
        raise MissingInputError(
            f"PASCAL VOC 2010 images not found: folder '{jpeg_dir}' does not exist.\n"
            f"Download {VOC2010_TAR} (host.robots.ox.ac.uk, PASCAL VOC 2010) and extract it into "
            f"'{root}' so that it holds VOCdevkit/VOC2010/JPEGImages."
        )
    if not json_path.is_file():
        raise MissingInputError(
            f"PASCAL-Context annotations not found: file '{json_path}' does not exist.\n"
            f"Download {JSON_NAME} (PASCAL-Context, the PASCAL in Detail release) and put it at "
            f"'{base / JSON_NAME}', or pass --json PATH."
        )
    images, by_image = load_detail_json(json_path)
    label_dir, list_dir = base / spec.label_dir, (base / spec.split_file).parent
    for folder in (label_dir, list_dir):
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(folder)
    tasks, stems = [], {phase: [] for phase in PHASES}
    for image in images:
        stem = Path(_field(image, "file_name", "images", json_path)).stem
        annotations = by_image[image["image_id"]]
        height, width = _check_sizes(image, annotations, json_path)
        tasks.append((label_dir / f"{stem}{spec.label_suffix}", height, width, annotations, overwrite))
        stems[image["phase"]].append(stem)
    del by_image
    counts = run_tasks(_convert_image, tasks, "context", workers=workers, progress=progress)
    lists_written = sum(
        write_text("".join(f"{stem}\n" for stem in sorted(names)), base / spec.split_file.format(split=phase))
        for phase, names in stems.items()
        if names
    )
    missing = sum(
        not (jpeg_dir / f"{stem}{spec.image_suffix}").is_file() for names in stems.values() for stem in names
    )
    return {
        "inputs": len(tasks),
        **counts,
        **{phase: len(names) for phase, names in stems.items()},
        "lists_written": lists_written,
        "missing_images": missing,
    }
