"""Benchmark specs and the evaluation data module, on tiny datasets in their real layouts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ovseg.data.catalog import DATASETS, get_dataset_spec
from ovseg.data.segmentation import MissingDatasetError, SegDataModule, find_pairs
from tests.support.datasets import random_scene, write_grey_pairs, write_voc


def test_catalog_matches_the_reference_table():
    expected = {
        "voc": (21, False, 1449),
        "voc20": (20, True, 1449),
        "context": (60, False, 5104),
        "context59": (59, True, 5104),
        "coco": (81, False, 5000),
        "coco-stuff": (171, False, 5000),
        "ade20k": (150, True, 2000),
        "cityscapes": (19, False, 500),
        "synthetic": (9, False, 256),
    }
    assert set(DATASETS) == set(expected)
    for name, (classes, reduce_zero, images) in expected.items():
        spec = get_dataset_spec(name)
        assert (spec.num_classes, spec.reduce_zero_label, spec.num_images) == (classes, reduce_zero, images)
        assert len(spec.label_names) == spec.num_classes
    with pytest.raises(ValueError, match="voc, voc20"):
        get_dataset_spec("pascal")


def test_voc_palette_labels_are_read_as_class_indices(tmp_path):
    labels = write_voc(tmp_path, [(30, 40), (25, 20)], seed=3)
    data = SegDataModule("voc", data_root=str(tmp_path), num_workers=0)
    batches = list(data.test_dataloader())
    assert len(batches) == 2
    assert batches[0]["image"].shape == (1, 3, 30, 40) and str(batches[0]["image"].dtype) == "torch.uint8"
    np.testing.assert_array_equal(batches[0]["label"][0].numpy(), labels[0])
    assert batches[1]["name"] == ["2007_000001"]
    assert data.class_names[0] == "aeroplane" and data.spec.num_classes == 21


def test_voc20_reduces_zero_label(tmp_path):
    labels = write_voc(tmp_path, [(30, 40)], seed=4)
    (batch,) = SegDataModule("voc20", data_root=str(tmp_path), num_workers=0).val_dataloader()
    expected = np.where((labels[0] == 0) | (labels[0] == 255), 255, labels[0].astype(np.int64) - 1)
    np.testing.assert_array_equal(batch["label"][0].numpy(), expected)


def test_ade20k_layout_and_reduce_zero_label(tmp_path):
    rng = np.random.default_rng(0)
    label = random_scene(rng, 20, 24, num_labels=150)
    base = tmp_path / "ADEChallengeData2016"
    write_grey_pairs(
        base / "images/validation",
        base / "annotations/validation",
        ["ADE_val_00000001"],
        ".jpg",
        ".png",
        [label],
    )
    (batch,) = SegDataModule("ade20k", data_root=str(tmp_path), num_workers=0).test_dataloader()
    expected = np.where((label == 0) | (label == 255), 255, label.astype(np.int64) - 1)
    np.testing.assert_array_equal(batch["label"][0].numpy(), expected)


def test_cityscapes_pairs_are_found_in_city_folders(tmp_path):
    rng = np.random.default_rng(1)
    names = ["frankfurt/frankfurt_000000_000294", "lindau/lindau_000000_000019"]
    labels = [random_scene(rng, 16, 32, num_labels=18) for _ in names]
    base = tmp_path / "cityscapes"
    write_grey_pairs(
        base / "leftImg8bit/val",
        base / "gtFine/val",
        names,
        "_leftImg8bit.png",
        "_gtFine_labelTrainIds.png",
        labels,
    )
    pairs = find_pairs(get_dataset_spec("cityscapes"), tmp_path, "val")
    assert [p[0].name for p in pairs] == [
        "frankfurt_000000_000294_leftImg8bit.png",
        "lindau_000000_000019_leftImg8bit.png",
    ]
    batches = list(
        SegDataModule("cityscapes", data_root=str(tmp_path), num_workers=0, limit=1).test_dataloader()
    )
    assert len(batches) == 1
    np.testing.assert_array_equal(batches[0]["label"][0].numpy(), labels[0])


def test_coco_object_pairs_use_instance_train_ids(tmp_path):
    rng = np.random.default_rng(2)
    base = tmp_path / "coco_stuff164k"
    label = random_scene(rng, 20, 20, num_labels=80)
    write_grey_pairs(
        base / "images/val2017",
        base / "annotations/val2017",
        ["000000000139"],
        ".jpg",
        "_instanceTrainIds.png",
        [label],
    )
    ((image, label_path),) = find_pairs(get_dataset_spec("coco"), tmp_path, "val")
    assert image.name == "000000000139.jpg" and label_path.name == "000000000139_instanceTrainIds.png"
    with pytest.raises(MissingDatasetError, match=r"_labelTrainIds\.png"):
        find_pairs(get_dataset_spec("coco-stuff"), tmp_path, "val")


def test_missing_files_are_named(tmp_path):
    write_voc(tmp_path, [(20, 20), (20, 20)])
    missing = tmp_path / "VOCdevkit/VOC2012/JPEGImages/2007_000001.jpg"
    missing.unlink()
    with pytest.raises(MissingDatasetError, match=r"2007_000001\.jpg' is missing"):
        SegDataModule("voc", data_root=str(tmp_path)).check_data()
    with pytest.raises(MissingDatasetError, match=r"ImageSets/Segmentation/train\.txt"):
        SegDataModule("voc", data_root=str(tmp_path), split="train").check_data()


def test_label_with_the_wrong_size_is_an_error(tmp_path):
    write_voc(tmp_path, [(20, 30)])
    label_path = tmp_path / "VOCdevkit/VOC2012/SegmentationClass/2007_000000.png"
    Image.fromarray(np.zeros((10, 10), dtype=np.uint8)).save(label_path)
    with pytest.raises(ValueError, match="corrupt"):
        next(iter(SegDataModule("voc", data_root=str(tmp_path), num_workers=0).test_dataloader()))


def test_synthetic_benchmark_needs_no_files(tmp_path, monkeypatch):
    monkeypatch.setenv("OVSEG_DATA_ROOT", str(tmp_path / "nowhere"))
    data = SegDataModule("synthetic", limit=3, image_size=48, num_workers=0)
    assert data.data_root == str(tmp_path / "nowhere")
    batches = list(data.test_dataloader())
    assert len(batches) == 3 and batches[0]["image"].shape == (1, 3, 48, 48)
    assert set(batches[0]["label"].unique().tolist()) <= set(range(9)) | {255}
    assert data.spec.label_names == (
        "background",
        "ball",
        "box",
        "star",
        "ring",
        "cross",
        "moon",
        "heart",
        "arrow",
    )


def test_missing_dataset_names_the_prepare_command(tmp_path):
    with pytest.raises(MissingDatasetError, match="ovseg prepare coco-object --data-root"):
        SegDataModule("coco", data_root=str(tmp_path)).check_data()
    with pytest.raises(MissingDatasetError, match="ovseg prepare context --data-root"):
        SegDataModule("context59", data_root=str(tmp_path)).check_data()
