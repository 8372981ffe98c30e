"""COCO-Object (and COCO-Stuff-171) label maps from COCO-Stuff-164k's raw ``stuffthingmaps``.

A raw map holds COCO-Stuff id − 1 per pixel (things 0..90, stuff 91..181) and 255 where nothing is
labelled. Facts checked against mmsegmentation's ``tools/dataset_converters/coco_stuff164k.py``
(its ``clsID_to_trID`` table) and GroupViT's ``convert_dataset/convert_coco_object.py``:

- only 80 thing ids occur: COCO ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 and 91 are unused
  (raw 11, 25, 28, 29, 44, 65, 67, 68, 70, 82 and 90);
- COCO-Object (``*_instanceTrainIds.png``): the 80 things in COCO order → 1..80, every stuff value
  and 255 → 0 (background);
- COCO-Stuff-171 (``*_labelTrainIds.png``): the 80 things → 0..79, stuff raw 91..181 → 80..170,
  255 stays 255.

Raw values outside these tables never occur in the release; here they become background (COCO-Object)
or 255 (COCO-Stuff), where the peer scripts leave them unchanged and so alias them onto real classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

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
)

UNUSED_THING_IDS: tuple[int, ...] = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
COCO_THING_IDS: tuple[int, ...] = tuple(i for i in range(1, 91) if i not in UNUSED_THING_IDS)
COCO_STUFF_IDS: tuple[int, ...] = tuple(range(92, 183))
UNLABELED = 255
ZIP_NAME = "stuffthingmaps_trainval2017.zip"
SPLITS = ("train", "val")


def _lookup(raw_values: list[int], first: int, default: int) -> np.ndarray:
    """(256,) uint8 table: raw_values[k] → first + k, every other raw value → default."""
    table = np.full(256, default, dtype=np.uint8)  # (256,)
    table[raw_values] = np.arange(first, first + len(raw_values))
    return table


_THING_RAW = [i - 1 for i in COCO_THING_IDS]
_STUFF_RAW = [i - 1 for i in COCO_STUFF_IDS]
COCO_OBJECT_LUT = _lookup(_THING_RAW, first=1, default=0)  # things 1..80; stuff, 255 → 0
COCO_STUFF171_LUT = _lookup(_THING_RAW + _STUFF_RAW, first=0, default=UNLABELED)  # 0..170, else 255
LOOKUPS = {"coco": COCO_OBJECT_LUT, "coco-stuff": COCO_STUFF171_LUT}


def stuffthingmaps_dir(root: Path, stuffthingmaps: str | Path | None = None) -> Path:
    """The folder that holds ``train2017/`` and ``val2017/`` raw maps."""
    if stuffthingmaps is not None:
        return Path(stuffthingmaps)
    base = root / get_dataset_spec("coco").base_dir
    unzipped = base / ZIP_NAME.removesuffix(".zip")
    return unzipped if unzipped.is_dir() else base / "annotations"


def raw_maps(folder: Path) -> list[Path]:
    """The raw maps in one split folder, sorted; converted ``*TrainIds.png`` outputs are left out."""
    return sorted(p for p in folder.glob("*.png") if not p.stem.endswith("TrainIds"))


def image_dir(root: Path, split: str) -> Path:
    """Where the evaluation loader looks for the COCO images of ``split``."""
    spec = get_dataset_spec("coco")
    return root / spec.base_dir / spec.image_dir.format(split=split)


def _missing(root: Path, split: str, what: str) -> MissingInputError:
    base = root / get_dataset_spec("coco").base_dir
    return MissingInputError(
        f"COCO-Stuff raw maps for split '{split}': {what}.\n"
        f"Download {ZIP_NAME} (COCO-Stuff-164k, github.com/nightrome/cocostuff) and unzip it into "
        f"'{base / 'annotations'}' (giving annotations/{split}2017/*.png) or into "
        f"'{base / ZIP_NAME.removesuffix('.zip')}', or pass --stuffthingmaps DIR (the folder holding "
        f"{split}2017/). Images are not converted; they go to '{image_dir(root, split)}/*.jpg' "
        f"(COCO 2017 {split}2017.zip)."
    )


def _convert_map(task: tuple[Path, tuple[tuple[Path, str], ...], bool]) -> list[str]:
    """Map one raw map to each (output path, dataset) it is asked for; returns their statuses."""
    source, outputs, overwrite = task
    try:
        with Image.open(source) as image:
            statuses = [output_status(path, image.size) for path, _ in outputs]
            if overwrite:
                statuses = [WRITTEN if s == SKIPPED else s for s in statuses]
            if all(s == SKIPPED for s in statuses):
                return statuses
            if image.mode not in ("L", "P"):
                raise PrepareError(
                    f"'{source}' is a {image.mode} image, not an 8-bit raw map; re-extract {ZIP_NAME}."
                )
            raw = np.asarray(image)  # (H, W) uint8 COCO-Stuff id − 1
    except OSError as error:
        raise PrepareError(f"Cannot read '{source}' ({error}); re-extract {ZIP_NAME}.") from None
    for (path, dataset), status in zip(outputs, statuses, strict=True):
        if status != SKIPPED:
            write_png(LOOKUPS[dataset][raw], path)  # (H, W) uint8
    return statuses


def convert_coco_object(
    root: str | Path,
    splits: tuple[str, ...] | list[str] = ("val",),
    stuffthingmaps: str | Path | None = None,
    stuff: bool = False,
    progress: bool = True,
    workers: int = 1,
    overwrite: bool = False,
) -> dict[str, int]:
    """Write ``{id}_instanceTrainIds.png`` (and ``{id}_labelTrainIds.png``) for each raw map.

    Args:
        root: data root; outputs go to ``root/coco_stuff164k/annotations/{split}2017/``.
        splits: "train" and/or "val"; each needs its raw maps, no split needs the other.
        stuffthingmaps: folder holding ``{split}2017/*.png`` raw maps (default: see stuffthingmaps_dir).
        stuff: also write the COCO-Stuff-171 ``*_labelTrainIds.png`` maps.
        progress: show a progress bar.
        workers: processes to convert with.
        overwrite: rewrite outputs that are already complete.

    Returns:
        {"inputs": raw maps read, "written", "skipped" (already complete), "replaced" (were broken)}.
    """
    root = Path(root)
    source_dir = stuffthingmaps_dir(root, stuffthingmaps)
    datasets = ("coco", "coco-stuff") if stuff else ("coco",)
    spec = get_dataset_spec("coco")
    tasks = []
    for split in splits:
        if split not in SPLITS:
            raise PrepareError(f"Unknown COCO split '{split}'. Valid splits: {', '.join(SPLITS)}.")
        folder = source_dir / f"{split}2017"
        if not folder.is_dir():
            raise _missing(root, split, f"folder '{folder}' does not exist")
        sources = raw_maps(folder)
        if not sources:
            raise _missing(root, split, f"no raw '*.png' maps in '{folder}'")
        out_dir = root / spec.base_dir / spec.label_dir.format(split=split)
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out_dir)
        for source in sources:
            outputs = tuple(
                (out_dir / f"{source.stem}{get_dataset_spec(name).label_suffix}", name) for name in datasets
            )
            tasks.append((source, outputs, overwrite))
    counts = run_tasks(_convert_map, tasks, "coco-object", workers=workers, progress=progress)
    return {"inputs": len(tasks), **counts}
