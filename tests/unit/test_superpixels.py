"""Felzenszwalb superpixels: the short-side map, cropping with the image's box, the cache, the CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from ovseg.data.superpixels import (
    SuperpixelCache,
    Superpixelizer,
    SuperpixelSettings,
    add_prepare_arguments,
    build_superpixel_cache,
    compute_superpixels,
    crop_labels,
    run_prepare,
    scaled_size,
)
from ovseg.data.transforms import CropBox, crop_resize
from ovseg.errors import OvsegUserError
from tests.unit.test_pairs import encode, good_shards, write_coco, write_shards

LEFT, RIGHT = (200, 30, 30), (20, 40, 210)


def two_colour_image(width: int = 200, height: int = 100, split: int = 130) -> Image.Image:
    """Left of column ``split`` one flat colour, right of it another."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, :split] = LEFT
    pixels[:, split:] = RIGHT
    return Image.fromarray(pixels)


def first_right_column(row: np.ndarray) -> int:
    """Index of the first column that differs from column 0."""
    return int(np.argmax(row != row[0]))


def test_maps_are_computed_at_the_short_side():
    labels = compute_superpixels(two_colour_image(200, 100))
    assert labels.shape == (224, 448) and labels.dtype == np.int32
    assert scaled_size(200, 100, 224) == (448, 224)
    edge = 130 * 448 // 200  # the colour boundary at map scale
    assert len(np.unique(labels[:, : edge - 6])) == 1 and len(np.unique(labels[:, edge + 6 :])) == 1
    assert labels[0, 0] != labels[0, -1]


@pytest.mark.parametrize("box", [CropBox(10, 60, 80, 120), CropBox(0, 100, 100, 90), CropBox(5, 0, 60, 200)])
def test_superpixel_boundary_lands_where_the_colour_boundary_lands_after_the_crop(box):
    image = two_colour_image()
    size = 64
    crop = np.asarray(crop_resize(image, box, size)).astype(int)  # (S, S, 3)
    labels = Superpixelizer()(image, "k", box, size)  # (S, S)
    assert labels.shape == (size, size) and labels.dtype == np.int64
    colour_edge = first_right_column(np.abs(crop[size // 2] - np.array(LEFT)).sum(axis=1) > 60)
    expected = (130 - box.left) / box.width * size  # where column 130 of the original lands
    assert abs(colour_edge - expected) <= 1
    # Felzenszwalb leaves the blurred boundary as thin strips: a few pixels of the crop at most.
    changes = np.flatnonzero(np.diff(labels, axis=1).any(axis=0)) + 1  # columns where a label starts
    assert changes.min() >= expected - 2 and changes.max() <= expected + 2
    left, right = labels[:, : int(expected) - 2], labels[:, int(expected) + 3 :]
    assert len(np.unique(left)) == 1 and len(np.unique(right)) == 1 and left[0, 0] != right[0, 0]


def test_crop_labels_samples_pixel_centres_through_the_box():
    labels = np.arange(12).reshape(3, 4) * 10  # a 4 × 3 "image" at map scale 1
    full = crop_labels(labels, CropBox(0, 0, 3, 4), (4, 3), 4)
    assert full.shape == (4, 4)
    corner = crop_labels(labels, CropBox(1, 2, 2, 2), (4, 3), 2)
    np.testing.assert_array_equal(corner, [[0, 1], [2, 3]])  # labels 60, 70, 100, 110 renumbered
    half_scale = crop_labels(labels, CropBox(2, 4, 4, 4), (8, 6), 2)  # the map is half the image size
    np.testing.assert_array_equal(half_scale, [[0, 1], [2, 3]])


def test_cache_is_atomic_resumable_and_skips_bad_images(tmp_path):
    images = {f"src/img{i}": two_colour_image(120 + 10 * i, 80, 60) for i in range(3)}
    samples = [{"key": key, "image": image} for key, image in images.items()]
    samples.append({"key": "src/bad", "image": b"not an image"})
    samples.append({"key": "src/as-bytes", "image": encode(two_colour_image())})
    cache_dir = tmp_path / "cache"
    assert build_superpixel_cache(samples, cache_dir, progress=False) == 4
    assert build_superpixel_cache(samples, cache_dir, progress=False) == 0
    cache = SuperpixelCache(cache_dir)
    stored = cache.load("src/img1")
    assert stored.dtype == np.uint16 and stored.shape == (224, 364)
    np.testing.assert_array_equal(stored, compute_superpixels(images["src/img1"]))
    assert "src/bad" not in cache and cache.path("src/img0") == cache_dir / "src" / "img0.npy"
    assert not list(cache_dir.rglob("*.tmp"))
    assert json.loads((cache_dir / "params.json").read_text())["min_size"] == 224
    with pytest.raises(OvsegUserError, match="was built with"):
        build_superpixel_cache(samples, cache_dir, sigma=0.5, progress=False)


def test_cached_maps_are_used_and_checked(tmp_path):
    image = two_colour_image()
    cache = SuperpixelCache(tmp_path)
    sentinel = np.zeros((224, 448), dtype=np.uint16)
    sentinel[:, 300:] = 7
    cache.save("a/img", sentinel)
    labels = Superpixelizer(SuperpixelSettings(), str(tmp_path))(image, "a/img", CropBox(0, 0, 100, 200), 32)
    assert first_right_column(labels[0]) == 21  # the first column whose centre maps to >= 300
    np.testing.assert_array_equal(
        Superpixelizer(SuperpixelSettings(), str(tmp_path))(image, "a/other", CropBox(0, 0, 100, 200), 32),
        Superpixelizer()(image, "a/other", CropBox(0, 0, 100, 200), 32),
    )
    cache.save("a/wrong", np.zeros((224, 224), dtype=np.uint16))
    with pytest.raises(OvsegUserError, match="rebuild it"):
        Superpixelizer(SuperpixelSettings(), str(tmp_path))(image, "a/wrong", CropBox(0, 0, 10, 10), 8)


def prepare(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="ovseg prepare superpixels")
    add_prepare_arguments(parser)
    run_prepare(parser.parse_args(argv))


def test_prepare_command_on_webdataset_shards(tmp_path, capsys):
    pattern = write_shards(tmp_path / "shards", good_shards(2, 3))
    cache = tmp_path / "cache"
    prepare(
        [
            "--source",
            "webdataset",
            "--urls",
            pattern,
            "--cache",
            str(cache),
            "--workers",
            "0",
            "--no-progress",
        ]
    )
    assert "6 written, 0 already there, 0 skipped" in capsys.readouterr().out
    assert sorted(p.name for p in (cache / "webdataset" / "00001").iterdir()) == [
        f"0000100{i:02d}.npy" for i in range(3)
    ]
    prepare(
        [
            "--source",
            "webdataset",
            "--urls",
            pattern,
            "--cache",
            str(cache),
            "--workers",
            "0",
            "--no-progress",
        ]
    )
    assert "0 written, 6 already there" in capsys.readouterr().out


def test_prepare_command_caches_each_coco_image_once_with_workers(tmp_path, capsys):
    write_coco(tmp_path / "coco", {"a": ["x", "y", "z"], "b": ["w", "v"], "c": ["u"]})
    cache = tmp_path / "cache"
    argv = ["--source", "coco-captions", "--root", str(tmp_path / "coco"), "--cache", str(cache)]
    prepare([*argv, "--workers", "2"])  # with the progress bar, which must iterate the workers once
    assert "3 written, 0 already there, 0 skipped" in capsys.readouterr().out
    assert sorted(p.name for p in (cache / "coco-captions").iterdir()) == ["a.npy", "b.npy", "c.npy"]


def test_prepare_command_rejects_flags_of_other_sources(tmp_path):
    with pytest.raises(OvsegUserError, match="--urls does not apply to --source coco-captions"):
        prepare(["--source", "coco-captions", "--urls", "x.tar", "--cache", str(tmp_path)])
    with pytest.raises(OvsegUserError, match="needs --urls"):
        prepare(["--source", "webdataset", "--cache", str(tmp_path)])
