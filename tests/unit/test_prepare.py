"""Dataset converters on tiny raw downloads in their genuine formats, checked pixel by pixel."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from ovseg.data import classnames as cn
from ovseg.data import prepare
from ovseg.data.convert_coco import (
    COCO_OBJECT_LUT,
    COCO_STUFF171_LUT,
    COCO_THING_IDS,
    convert_coco_object,
)
from ovseg.data.convert_context import CONTEXT_CATEGORY_IDS, convert_context
from ovseg.data.prepare import MissingInputError, PrepareError, is_complete_png, write_png
from ovseg.data.segmentation import SegDataModule

# ---- COCO-Stuff-164k raw stuffthingmaps: value = COCO-Stuff id − 1, 255 unlabeled ----------------
# Raw values used: 0 person, 1 bicycle, 11 (unused id 12), 12 stop sign, 24 giraffe, 25 (unused 26),
# 26 backpack, 45 wine glass, 89 toothbrush, 90 (unused 91), 91 banner, 92 blanket, 181 wood,
# 182 (no such class), 255 unlabeled.
RAW_A = np.array(
    [
        [0, 1, 11, 12, 24],
        [25, 26, 45, 89, 90],
        [91, 92, 181, 182, 255],
        [255, 0, 0, 89, 91],
    ],
    dtype=np.uint8,
)
OBJECT_A = np.array(  # things 1..80 in COCO order; gaps, stuff and unlabeled → 0
    [
        [1, 2, 0, 12, 24],
        [0, 25, 41, 80, 0],
        [0, 0, 0, 0, 0],
        [0, 1, 1, 80, 0],
    ],
    dtype=np.uint8,
)
STUFF_A = np.array(  # things 0..79, stuff 80..170; gaps and unlabeled → 255
    [
        [0, 1, 255, 11, 23],
        [255, 24, 40, 79, 255],
        [80, 81, 170, 255, 255],
        [255, 0, 0, 79, 80],
    ],
    dtype=np.uint8,
)
RAW_B = np.full((3, 2), 255, dtype=np.uint8)  # an all-unlabeled map
COCO_IDS = ("000000000139", "000000000285")


def write_stuffthingmaps(folder: Path, split: str = "val") -> None:
    """Raw maps as in stuffthingmaps_trainval2017.zip: {split}2017/{id}.png, 8-bit greyscale."""
    (folder / f"{split}2017").mkdir(parents=True, exist_ok=True)
    for name, raw in zip(COCO_IDS, (RAW_A, RAW_B), strict=True):
        Image.fromarray(raw).save(folder / f"{split}2017" / f"{name}.png")


def write_coco_images(root: Path, split: str = "val") -> None:
    folder = root / "coco_stuff164k" / "images" / f"{split}2017"
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in zip(COCO_IDS, (RAW_A, RAW_B), strict=True):
        Image.fromarray(np.stack([raw] * 3, axis=-1)).save(folder / f"{name}.jpg")


def coco_out(root: Path, name: str, suffix: str, split: str = "val") -> Path:
    return root / "coco_stuff164k" / "annotations" / f"{split}2017" / f"{name}{suffix}"


def read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "L"
        return np.asarray(image)


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- PASCAL-Context trainval_merged.json (Detail API format) -------------------------------------
def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": encoded["size"], "counts": encoded["counts"].decode("ascii")}


def box(height: int, width: int, rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)  # (H, W)
    mask[rows, cols] = 1
    return mask


# image: (image_id, file_name, height, width, phase)
CONTEXT_IMAGES = [
    (2008000002, "2008_000002.jpg", 6, 7, "val"),
    (2008000003, "2008_000003.jpg", 5, 4, "val"),
    (2008000008, "2008_000008.jpg", 4, 4, "train"),
    (2008000010, "2008_000010.jpg", 4, 4, "test"),
]
# annotations in file order: (image_id, category_id, segmentation)
CONTEXT_ANNOTATIONS = [
    (2008000002, 2, rle(box(6, 7, slice(0, 4), slice(0, 4)))),  # aeroplane → 1
    (2008000003, 999, rle(box(5, 4, slice(0, 5), slice(0, 2)))),  # not in the table → 0
    (2008000002, 458, rle(box(6, 7, slice(2, 6), slice(2, 7)))),  # wood → 59, over aeroplane
    (2008000002, 1, rle(box(6, 7, slice(0, 1), slice(2, 7)))),  # not in the table, erases to 0
    (2008000003, 22, rle(box(5, 4, slice(1, 3), slice(0, 4)))),  # bench → 5, over the 999 one
    (2008000003, 19, {"size": [5, 4], "counts": [14, 1, 4, 1]}),  # bedclothes → 4, uncompressed RLE
    (2008000008, 9, rle(box(4, 4, slice(1, 3), slice(0, 4)))),  # bag → 2
    (2008000010, 9, rle(box(4, 4, slice(0, 4), slice(0, 4)))),  # test phase: ignored
    (2010999999, 9, rle(box(4, 4, slice(0, 4), slice(0, 4)))),  # image not listed: ignored
]
CONTEXT_EXPECTED = {
    "2008_000002": np.array(
        [
            [1, 1, 0, 0, 0, 0, 0],
            [1, 1, 1, 1, 0, 0, 0],
            [1, 1, 59, 59, 59, 59, 59],
            [1, 1, 59, 59, 59, 59, 59],
            [0, 0, 59, 59, 59, 59, 59],
            [0, 0, 59, 59, 59, 59, 59],
        ]
    ),
    "2008_000003": np.array([[0, 0, 0, 0], [5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 0, 0], [0, 0, 4, 4]]),
    "2008_000008": np.array([[0, 0, 0, 0], [2, 2, 2, 2], [2, 2, 2, 2], [0, 0, 0, 0]]),
}


def write_context(root: Path, json_path: Path | None = None) -> Path:
    """VOC2010 JPEGs plus a miniature trainval_merged.json; returns the JSON's path."""
    voc = root / "VOCdevkit" / "VOC2010"
    (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
    for _, file_name, height, width, _ in CONTEXT_IMAGES:
        Image.new("RGB", (width, height), (90, 120, 30)).save(voc / "JPEGImages" / file_name)
    data = {
        "info": {"description": "miniature PASCAL in Detail"},
        "images": [
            {"image_id": i, "file_name": f, "height": h, "width": w, "phase": p}
            for i, f, h, w, p in CONTEXT_IMAGES
        ],
        "categories": [
            {"category_id": c, "name": n, "supercategory": "object", "onlysemantic": 0, "parts": []}
            for c, n in ((2, "aeroplane"), (9, "bag"), (19, "bedclothes"), (22, "bench"), (458, "wood"))
        ],
        "annos_segmentation": [
            {"id": k + 1, "image_id": i, "category_id": c, "segmentation": s, "parts": [], "iscrowd": 0}
            for k, (i, c, s) in enumerate(CONTEXT_ANNOTATIONS)
        ],
    }
    json_path = json_path or voc / "trainval_merged.json"
    json_path.write_text(json.dumps(data))
    return json_path


def context_label(root: Path, name: str) -> Path:
    return root / "VOCdevkit" / "VOC2010" / "SegmentationClassContext" / f"{name}.png"


# ---- tables ---------------------------------------------------------------------------------------
def test_coco_tables_match_the_published_ones():
    assert len(COCO_THING_IDS) == 80 and COCO_THING_IDS[:12] == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13)
    things = [i - 1 for i in COCO_THING_IDS]
    np.testing.assert_array_equal(COCO_OBJECT_LUT[things], np.arange(1, 81))
    assert np.count_nonzero(COCO_OBJECT_LUT) == 80 and COCO_OBJECT_LUT[255] == 0
    np.testing.assert_array_equal(COCO_STUFF171_LUT[things], np.arange(80))
    np.testing.assert_array_equal(COCO_STUFF171_LUT[91:182], np.arange(80, 171))
    assert np.count_nonzero(COCO_STUFF171_LUT != 255) == 171
    assert COCO_STUFF171_LUT[[11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90, 182, 255]].tolist() == [255] * 13
    # label k of each map names the class of that COCO-Stuff id
    assert cn.COCO_OBJECT_CLASSES[COCO_OBJECT_LUT[12] - 1] == "stop sign"
    assert cn.COCO_OBJECT_CLASSES[COCO_OBJECT_LUT[89] - 1] == "toothbrush"
    assert cn.COCO_STUFF_CLASSES[COCO_STUFF171_LUT[91]] == "banner"
    assert cn.COCO_STUFF_CLASSES[COCO_STUFF171_LUT[181]] == "wood"


def test_context_table_is_sorted_and_names_the_59_classes():
    assert len(CONTEXT_CATEGORY_IDS) == 60 and list(CONTEXT_CATEGORY_IDS) == sorted(CONTEXT_CATEGORY_IDS)
    assert cn.CONTEXT59_CLASSES[CONTEXT_CATEGORY_IDS.index(2) - 1] == "aeroplane"
    assert cn.CONTEXT59_CLASSES[CONTEXT_CATEGORY_IDS.index(458) - 1] == "wood"


# ---- COCO-Object / COCO-Stuff ---------------------------------------------------------------------
def test_coco_object_and_stuff_pixels(tmp_path):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "annotations")
    counts = convert_coco_object(tmp_path, stuff=True, progress=False)
    assert counts == {"inputs": 2, "written": 4, "skipped": 0, "replaced": 0}
    np.testing.assert_array_equal(read(coco_out(tmp_path, COCO_IDS[0], "_instanceTrainIds.png")), OBJECT_A)
    np.testing.assert_array_equal(read(coco_out(tmp_path, COCO_IDS[0], "_labelTrainIds.png")), STUFF_A)
    np.testing.assert_array_equal(read(coco_out(tmp_path, COCO_IDS[1], "_instanceTrainIds.png")), RAW_B * 0)
    np.testing.assert_array_equal(read(coco_out(tmp_path, COCO_IDS[1], "_labelTrainIds.png")), RAW_B)
    # the converted files sit next to the raw maps and are never taken for raw maps
    again = convert_coco_object(tmp_path, stuff=True, progress=False)
    assert again == {"inputs": 2, "written": 0, "skipped": 4, "replaced": 0}


def test_coco_object_only_by_default_and_val_alone(tmp_path):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "stuffthingmaps_trainval2017")  # no train2017
    counts = convert_coco_object(tmp_path, progress=False)
    assert counts["written"] == 2
    out_dir = tmp_path / "coco_stuff164k" / "annotations"
    assert sorted(p.name for p in out_dir.rglob("*")) == [
        "000000000139_instanceTrainIds.png",
        "000000000285_instanceTrainIds.png",
        "val2017",
    ]


def test_coco_train_and_val_from_an_explicit_folder(tmp_path):
    raw = tmp_path / "downloads" / "maps"
    write_stuffthingmaps(raw, "train")
    write_stuffthingmaps(raw, "val")
    counts = convert_coco_object(tmp_path, splits=["train", "val"], stuffthingmaps=raw, progress=False)
    assert counts["inputs"] == 4 and counts["written"] == 4
    train = read(coco_out(tmp_path, COCO_IDS[0], "_instanceTrainIds.png", split="train"))
    np.testing.assert_array_equal(train, OBJECT_A)


def test_coco_outputs_load_with_the_data_module(tmp_path):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "annotations")
    write_coco_images(tmp_path)
    convert_coco_object(tmp_path, stuff=True, progress=False)
    for dataset, expected in (("coco", OBJECT_A), ("coco-stuff", STUFF_A)):
        batches = list(SegDataModule(dataset, data_root=str(tmp_path), num_workers=0).test_dataloader())
        assert [b["name"] for b in batches] == [[COCO_IDS[0]], [COCO_IDS[1]]]
        np.testing.assert_array_equal(batches[0]["label"][0].numpy(), expected)


def test_coco_workers_give_the_same_maps(tmp_path):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "annotations")
    counts = convert_coco_object(tmp_path, stuff=True, progress=False, workers=2)
    assert counts["written"] == 4
    np.testing.assert_array_equal(read(coco_out(tmp_path, COCO_IDS[0], "_labelTrainIds.png")), STUFF_A)


def test_coco_second_run_skips_everything_and_touches_nothing(tmp_path):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "annotations")
    convert_coco_object(tmp_path, stuff=True, progress=False)
    before = mtimes(tmp_path)
    counts = convert_coco_object(tmp_path, stuff=True, progress=False)
    assert counts == {"inputs": 2, "written": 0, "skipped": 4, "replaced": 0}
    assert mtimes(tmp_path) == before
    assert convert_coco_object(tmp_path, progress=False, overwrite=True)["written"] == 2


def test_coco_interrupted_run_resumes(tmp_path, monkeypatch):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "annotations")
    real_replace, calls = os.replace, []

    def dying_replace(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is stopped between writing the temp file and renaming it
        real_replace(source, target)

    monkeypatch.setattr(prepare.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        convert_coco_object(tmp_path, progress=False)
    monkeypatch.undo()
    out_dir = tmp_path / "coco_stuff164k" / "annotations" / "val2017"
    assert coco_out(tmp_path, COCO_IDS[0], "_instanceTrainIds.png").is_file()
    assert not coco_out(tmp_path, COCO_IDS[1], "_instanceTrainIds.png").exists()  # no partial file
    # a SIGKILL leaves its temp file behind, and a non-atomic tool a truncated PNG
    (out_dir / f".{COCO_IDS[1]}_instanceTrainIds.png.4242{prepare.TEMP_SUFFIX}").write_bytes(b"\x89PNG")
    first = coco_out(tmp_path, COCO_IDS[0], "_instanceTrainIds.png")
    first.write_bytes(first.read_bytes()[:30])
    counts = convert_coco_object(tmp_path, progress=False)
    assert counts == {"inputs": 2, "written": 1, "skipped": 0, "replaced": 1}
    assert not list(out_dir.glob(f".*{prepare.TEMP_SUFFIX}"))
    np.testing.assert_array_equal(read(first), OBJECT_A)
    assert is_complete_png(coco_out(tmp_path, COCO_IDS[1], "_instanceTrainIds.png"), (2, 3))


def test_coco_missing_raw_maps_name_the_expected_folder(tmp_path):
    with pytest.raises(
        MissingInputError, match="coco_stuff164k/annotations/val2017' does not exist"
    ) as error:
        convert_coco_object(tmp_path, progress=False)
    assert "stuffthingmaps_trainval2017.zip" in str(error.value)
    assert "coco_stuff164k/images/val2017/*.jpg" in str(error.value)
    (tmp_path / "coco_stuff164k" / "annotations" / "val2017").mkdir(parents=True)
    with pytest.raises(MissingInputError, match="no raw"):
        convert_coco_object(tmp_path, progress=False)
    with pytest.raises(PrepareError, match="Valid splits: train, val"):
        convert_coco_object(tmp_path, splits=("test",), progress=False)


def test_coco_rejects_maps_that_are_not_8_bit(tmp_path):
    folder = tmp_path / "coco_stuff164k" / "annotations" / "val2017"
    folder.mkdir(parents=True)
    Image.new("RGB", (4, 3)).save(folder / "000000000001.png")
    with pytest.raises(PrepareError, match="RGB image"):
        convert_coco_object(tmp_path, progress=False)


# ---- PASCAL-Context -------------------------------------------------------------------------------
def test_context_pixels_and_split_lists(tmp_path):
    write_context(tmp_path)
    counts = convert_context(tmp_path, progress=False)
    assert counts == {
        "inputs": 3,
        "written": 3,
        "skipped": 0,
        "replaced": 0,
        "train": 1,
        "val": 2,
        "lists_written": 2,
        "missing_images": 0,
    }
    for name, expected in CONTEXT_EXPECTED.items():
        np.testing.assert_array_equal(read(context_label(tmp_path, name)), expected)
    assert not context_label(tmp_path, "2008_000010").exists()  # test phase
    lists = tmp_path / "VOCdevkit" / "VOC2010" / "ImageSets" / "SegmentationContext"
    assert (lists / "val.txt").read_text() == "2008_000002\n2008_000003\n"
    assert (lists / "train.txt").read_text() == "2008_000008\n"


def test_context_outputs_load_with_the_data_module(tmp_path):
    write_context(tmp_path)
    convert_context(tmp_path, progress=False)
    batches = list(SegDataModule("context", data_root=str(tmp_path), num_workers=0).test_dataloader())
    assert [b["name"][0] for b in batches] == ["2008_000002", "2008_000003"]
    np.testing.assert_array_equal(batches[0]["label"][0].numpy(), CONTEXT_EXPECTED["2008_000002"])
    (batch, *_) = SegDataModule("context59", data_root=str(tmp_path), num_workers=0).test_dataloader()
    expected59 = np.where(CONTEXT_EXPECTED["2008_000002"] == 0, 255, CONTEXT_EXPECTED["2008_000002"] - 1)
    np.testing.assert_array_equal(batch["label"][0].numpy(), expected59)
    train = SegDataModule("context", data_root=str(tmp_path), split="train", num_workers=0)
    np.testing.assert_array_equal(
        next(iter(train.test_dataloader()))["label"][0].numpy(), CONTEXT_EXPECTED["2008_000008"]
    )


def test_context_second_run_skips_everything_and_touches_nothing(tmp_path):
    json_path = write_context(tmp_path, tmp_path / "elsewhere.json")
    convert_context(tmp_path, json_path=json_path, progress=False)
    before = mtimes(tmp_path / "VOCdevkit")
    counts = convert_context(tmp_path, json_path=json_path, progress=False, workers=2)
    assert (counts["written"], counts["skipped"], counts["lists_written"]) == (0, 3, 0)
    assert mtimes(tmp_path / "VOCdevkit") == before


def test_context_resumes_after_a_killed_run(tmp_path):
    write_context(tmp_path)
    convert_context(tmp_path, progress=False)
    label_dir = tmp_path / "VOCdevkit" / "VOC2010" / "SegmentationClassContext"
    context_label(tmp_path, "2008_000003").unlink()
    (label_dir / f".2008_000003.png.999{prepare.TEMP_SUFFIX}").write_bytes(b"half a png")
    counts = convert_context(tmp_path, progress=False)
    assert (counts["written"], counts["skipped"]) == (1, 2)
    assert [p.name for p in label_dir.iterdir() if p.name.startswith(".")] == []
    np.testing.assert_array_equal(
        read(context_label(tmp_path, "2008_000003")), CONTEXT_EXPECTED["2008_000003"]
    )


def test_context_reports_images_without_jpeg(tmp_path):
    write_context(tmp_path)
    (tmp_path / "VOCdevkit" / "VOC2010" / "JPEGImages" / "2008_000008.jpg").unlink()
    assert convert_context(tmp_path, progress=False)["missing_images"] == 1


def test_context_missing_inputs_name_the_expected_paths(tmp_path):
    with pytest.raises(MissingInputError, match="VOC2010/JPEGImages' does not exist") as error:
        convert_context(tmp_path, progress=False)
    assert "VOCtrainval_03-May-2010.tar" in str(error.value)
    (tmp_path / "VOCdevkit" / "VOC2010" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(MissingInputError, match=r"VOC2010/trainval_merged\.json' does not exist"):
        convert_context(tmp_path, progress=False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"images": []}', "no 'annos_segmentation' list"),
        ('{"images": [{"image_id": 1, "phase": "val"}], "annos_segmentation": []}', "no 'file_name' field"),
    ],
)
def test_context_rejects_files_that_are_not_the_detail_json(tmp_path, content, message):
    write_context(tmp_path)
    (tmp_path / "VOCdevkit" / "VOC2010" / "trainval_merged.json").write_text(content)
    with pytest.raises(PrepareError, match=message):
        convert_context(tmp_path, progress=False)


def test_context_rejects_masks_of_the_wrong_size(tmp_path):
    json_path = write_context(tmp_path)
    data = json.loads(json_path.read_text())
    data["annos_segmentation"][0]["segmentation"] = rle(np.ones((3, 3), dtype=np.uint8))
    json_path.write_text(json.dumps(data))
    with pytest.raises(PrepareError, match=r"2008_000002.jpg has size \[3, 3\] but the image is 6x7"):
        convert_context(tmp_path, progress=False)


# ---- shared helpers -------------------------------------------------------------------------------
def test_complete_png_check_and_atomic_write(tmp_path):
    path = tmp_path / "label.png"
    write_png(np.arange(12, dtype=np.uint8).reshape(3, 4), path)
    assert is_complete_png(path, (4, 3)) and not is_complete_png(path, (3, 4))
    assert [p.name for p in tmp_path.iterdir()] == ["label.png"]
    path.write_bytes(path.read_bytes()[:-5])
    assert not is_complete_png(path)
    assert not is_complete_png(tmp_path / "absent.png")
    with pytest.raises(ValueError, match="uint8"):
        write_png(np.zeros((2, 2), dtype=np.int64), path)


def test_dispatch_by_name(tmp_path):
    write_stuffthingmaps(tmp_path / "coco_stuff164k" / "annotations")
    assert prepare.convert("coco-object", tmp_path, progress=False)["written"] == 2
    with pytest.raises(PrepareError, match="Valid converters: coco-object, context"):
        prepare.convert("ade20k", tmp_path)
