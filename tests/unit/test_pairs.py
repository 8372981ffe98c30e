"""Pair sources on fixtures in their genuine formats: img2dataset tars, COCO captions, HF datasets."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from ovseg.data.pairs import (
    BadSample,
    CocoCaptionPairs,
    ConcatPairs,
    HFPairs,
    InterleavedPairs,
    Reader,
    SyntheticPairs,
    WebDatasetPairs,
    build_source,
    build_sources,
    decode_record,
    mix_sources,
    open_rgb,
)
from ovseg.data.segmentation import MissingDatasetError
from ovseg.errors import OvsegUserError, UnknownNameError


# ----- fixture writers (also used by the other image-text tests) --------------------------------
def encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def colour_image(seed: int, size: tuple[int, int] = (40, 30)) -> Image.Image:
    """An RGB image of random blocks."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize(size, Image.Resampling.NEAREST)


def odd_images() -> dict[str, bytes]:
    """Images in every mode that must become RGB: grey, CMYK, RGBA, palette with transparency."""
    base = colour_image(1)
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.info["transparency"] = 0
    rgba = base.convert("RGBA")
    rgba.putpixel((0, 0), (10, 20, 30, 0))
    return {
        "grey": encode(base.convert("L")),
        "cmyk": encode(base.convert("CMYK")),
        "rgba": encode(rgba, "PNG"),
        "palette": encode(palette, "PNG"),
    }


def write_shards(folder: Path, shards: list[list[dict]]) -> str:
    """img2dataset-style shards ``{i:05d}.tar``; each sample {"key", "jpg", "txt"[, "json"]}.

    Returns the brace pattern that names them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for index, samples in enumerate(shards):
        with wds.TarWriter(str(folder / f"{index:05d}.tar")) as writer:
            for sample in samples:
                entry = {"__key__": sample["key"]}
                entry.update({k: v for k, v in sample.items() if k != "key"})
                writer.write(entry)
    return str(folder / f"{{00000..{len(shards) - 1:05d}}}.tar")


def good_shards(num_shards: int, per_shard: int) -> list[list[dict]]:
    """Shards of small JPEGs with captions and img2dataset's json sidecar."""
    shards = []
    for shard in range(num_shards):
        samples = []
        for item in range(per_shard):
            key = f"{shard:05d}{item:04d}"
            caption = f"picture number {item} of shard {shard}"
            samples.append(
                {
                    "key": key,
                    "jpg": encode(colour_image(shard * 100 + item, (24, 20))),
                    "txt": caption,
                    "json": {"key": key, "caption": caption, "status": "success"},
                }
            )
        shards.append(samples)
    return shards


def write_coco(root: Path, captions: dict[str, list[str]], split: str = "train2017") -> Path:
    """A COCO captions layout: ``root/{split}/*.jpg`` and ``root/annotations/captions_{split}.json``."""
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id, (stem, texts) in enumerate(captions.items(), start=1):
        picture = colour_image(image_id, (48, 32))
        picture.save(root / split / f"{stem}.jpg", quality=90)
        images.append({"id": image_id, "file_name": f"{stem}.jpg", "width": 48, "height": 32})
        for text in texts:
            annotations.append({"image_id": image_id, "id": 1000 + len(annotations), "caption": text})
    annotations.append({"image_id": 999, "id": 5000, "caption": "a caption of an image not listed"})
    path = root / "annotations" / f"captions_{split}.json"
    path.write_text(json.dumps({"info": {}, "images": images, "annotations": annotations}))
    return path


def keys_of(samples) -> list[str]:
    return [sample["key"] for sample in samples]


# ----- decoding --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["grey", "cmyk", "rgba", "palette"])
def test_every_image_mode_becomes_rgb(mode):
    image = open_rgb(odd_images()[mode])
    assert image.mode == "RGB" and image.size == (40, 30)


def test_transparent_pixels_are_laid_over_white():
    assert open_rgb(odd_images()["rgba"]).getpixel((0, 0)) == (255, 255, 255)


def test_corrupt_and_truncated_images_raise_bad_sample():
    good = encode(colour_image(0))
    for data in (good[: len(good) // 2], b"not an image at all", b""):
        with pytest.raises(BadSample) as info:
            decode_record({"key": "k", "image": data, "caption": "fine"})
        assert info.value.reason == "unreadable_image"
    with pytest.raises(BadSample, match="unreadable_image"):
        open_rgb(Path("/nonexistent/image.jpg"))


@pytest.mark.parametrize("caption", ["", "   \n\t", None, b"  "])
def test_empty_captions_raise_bad_sample(caption):
    with pytest.raises(BadSample) as info:
        decode_record({"key": "k", "image": encode(colour_image(0)), "caption": caption})
    assert info.value.reason == "empty_caption"


def test_decoded_sample_format():
    sample = decode_record({"key": "k", "image": encode(colour_image(0)), "caption": b" a cat \n"})
    assert sample["caption"] == "a cat" and sample["image"].mode == "RGB"
    assert sample["key"] == sample["image_key"] == "k"


# ----- webdataset -------------------------------------------------------------------------------
def test_webdataset_yields_good_samples_and_counts_bad_ones(tmp_path):
    shards = good_shards(2, 3)
    odd = odd_images()
    good = encode(colour_image(9))
    shards[1] += [
        {"key": "grey", "jpg": odd["grey"], "txt": "grey"},
        {"key": "cmyk", "jpg": odd["cmyk"], "txt": "cmyk"},
        {"key": "rgba", "png": odd["rgba"], "txt": "rgba"},
        {"key": "palette", "png": odd["palette"], "txt": "palette"},
        {"key": "corrupt", "jpg": b"\xff\xd8\xff garbage", "txt": "corrupt"},
        {"key": "truncated", "jpg": good[: len(good) // 3], "txt": "truncated"},
        {"key": "empty", "jpg": good, "txt": "  "},
        {"key": "nocaption", "jpg": good},
        {"key": "jsoncaption", "jpg": good, "json": {"caption": "from the json"}},
    ]
    source = WebDatasetPairs(write_shards(tmp_path, shards), shuffle=0)
    samples = list(source)
    assert len(samples) == 6 + 5
    assert all(sample["image"].mode == "RGB" for sample in samples)
    assert keys_of(samples)[:3] == [f"webdataset/00000/00000{i:04d}" for i in range(3)]
    assert samples[-1]["caption"] == "from the json"
    assert source.skipped == Counter({"unreadable_image": 2, "empty_caption": 2})


def test_a_truncated_shard_is_read_up_to_the_break_and_counted(tmp_path):
    pattern = write_shards(tmp_path, good_shards(2, 6))
    data = (tmp_path / "00001.tar").read_bytes()
    (tmp_path / "00001.tar").write_bytes(data[: len(data) // 2])
    source = WebDatasetPairs(pattern, shuffle=0)
    samples = list(source)
    assert 6 < len(samples) < 12
    assert source.skipped["unreadable_shard"] == 1


@pytest.mark.parametrize(
    ("num_shards", "sharding"), [(6, "auto"), (3, "auto"), (6, "samples"), (2, "shards")]
)
def test_readers_split_the_records_exactly_once(tmp_path, num_shards, sharding):
    source = WebDatasetPairs(write_shards(tmp_path, good_shards(num_shards, 5)), shuffle=4, sharding=sharding)
    everything = keys_of(source.records(epoch=0, reader=Reader(0, 1)))
    assert len(everything) == num_shards * 5
    for epoch in range(2):
        shares = [keys_of(source.records(epoch, Reader(i, 4), shuffle=True)) for i in range(4)]
        union = [key for share in shares for key in share]
        assert sorted(union) == sorted(everything)
        if num_shards >= 4 or sharding == "samples":
            assert all(share for share in shares)


def test_shuffling_is_seeded_per_epoch(tmp_path):
    source = WebDatasetPairs(write_shards(tmp_path, good_shards(3, 8)), shuffle=10, seed=1)
    in_order = keys_of(source.records(0, Reader(), shuffle=False))
    first = keys_of(source.records(0, Reader(), shuffle=True))
    again = keys_of(source.records(0, Reader(), shuffle=True))
    second = keys_of(source.records(1, Reader(), shuffle=True))
    assert first == again and first != second and first != in_order
    assert sorted(first) == sorted(second) == sorted(in_order)
    source.set_epoch(1)
    assert keys_of(source) == second
    unshuffled = WebDatasetPairs(source.urls, shuffle=0)
    assert keys_of(unshuffled.records(3, Reader(), shuffle=True)) == in_order


def test_missing_shards_name_the_layout(tmp_path):
    pattern = write_shards(tmp_path, good_shards(2, 1))
    with pytest.raises(MissingDatasetError, match=r"(?s)1 of 3 shards do not exist.*img2dataset"):
        WebDatasetPairs(pattern.replace("00001", "00002"))
    with pytest.raises(UnknownNameError, match="auto, shards, samples"):
        WebDatasetPairs(pattern, sharding="nodes")


# ----- COCO captions ----------------------------------------------------------------------------
def test_coco_captions_give_one_sample_per_caption(tmp_path):
    write_coco(tmp_path, {"000000000009": ["a dog", "a brown dog"], "000000000025": ["  ", "two cats"]})
    source = CocoCaptionPairs(root=str(tmp_path))
    assert len(source) == 4
    samples = list(source)
    assert [s["caption"] for s in samples] == ["a dog", "a brown dog", "two cats"]
    assert keys_of(samples) == [
        "coco-captions/000000000009/1000",
        "coco-captions/000000000009/1001",
        "coco-captions/000000000025/1003",
    ]
    assert samples[0]["image_key"] == samples[1]["image_key"] == "coco-captions/000000000009"
    assert samples[0]["image"].size == (48, 32)
    assert source.skipped == Counter({"empty_caption": 1})
    assert [r["image_key"] for r in source.image_records(Reader())] == [
        "coco-captions/000000000009",
        "coco-captions/000000000025",
    ]


def test_coco_missing_files_name_the_layout(tmp_path):
    with pytest.raises(MissingDatasetError, match=r"captions_train2017.json"):
        CocoCaptionPairs(root=str(tmp_path))
    write_coco(tmp_path, {"a": ["x"]})
    (tmp_path / "train2017" / "a.jpg").unlink()
    with pytest.raises(MissingDatasetError, match=r"a.jpg' does not exist"):
        CocoCaptionPairs(root=str(tmp_path))
    (tmp_path / "annotations" / "captions_train2017.json").write_text(json.dumps({"categories": []}))
    with pytest.raises(OvsegUserError, match="not a COCO captions file"):
        CocoCaptionPairs(root=str(tmp_path))


# ----- Hugging Face -----------------------------------------------------------------------------
def hf_rows() -> dict:
    images = [{"bytes": encode(colour_image(i)), "path": None} for i in range(4)]
    images[2] = {"bytes": b"broken", "path": None}
    return {"image": images, "text": ["one", "two", "three", ""], "uid": ["a", "b", "c", "d"]}


def test_hf_dataset_saved_to_disk(tmp_path):
    import datasets

    features = datasets.Features(
        {"image": datasets.Image(), "text": datasets.Value("string"), "uid": datasets.Value("string")}
    )
    datasets.Dataset.from_dict(hf_rows(), features=features).save_to_disk(str(tmp_path / "hf"))
    source = HFPairs(path=str(tmp_path / "hf"), key_column="uid")
    samples = list(source)
    assert keys_of(samples) == ["hf/a", "hf/b"] and samples[1]["caption"] == "two"
    assert samples[0]["image"].mode == "RGB"
    assert source.skipped == Counter({"unreadable_image": 1, "empty_caption": 1})


def test_hf_parquet_file_with_other_column_names(tmp_path):
    import datasets

    rows = hf_rows()
    features = datasets.Features({"picture": datasets.Image(), "sentence": datasets.Value("string")})
    data = {"picture": rows["image"], "sentence": rows["text"]}
    datasets.Dataset.from_dict(data, features=features).to_parquet(str(tmp_path / "pairs.parquet"))
    source = HFPairs(path=str(tmp_path / "pairs.parquet"), image_column="picture", text_column="sentence")
    assert keys_of(source) == ["hf/000000000", "hf/000000001"]
    with pytest.raises(OvsegUserError, match=r"no column 'image'.*picture, sentence"):
        HFPairs(path=str(tmp_path / "pairs.parquet"))


def test_hf_missing_path_and_ambiguous_options(tmp_path):
    with pytest.raises(MissingDatasetError, match="save_to_disk"):
        HFPairs(path=str(tmp_path / "nothing"))
    with pytest.raises(OvsegUserError, match="exactly one of 'path'"):
        HFPairs()


# ----- synthetic and mixing ---------------------------------------------------------------------
def test_synthetic_source_wraps_the_generator():
    source = SyntheticPairs(length=5, image_size=32, seed=3)
    samples = list(source)
    assert len(samples) == 5 and samples[0]["image"].size == (32, 32)
    assert samples[0]["key"].startswith("synthetic/") and samples[0]["caption"]


def test_map_sources_concatenate(tmp_path):
    write_coco(tmp_path, {"x": ["one", "two"]})
    mixed = mix_sources([SyntheticPairs(length=3), CocoCaptionPairs(root=str(tmp_path))])
    assert isinstance(mixed, ConcatPairs) and len(mixed) == 5
    assert mixed.record(3)["key"] == "coco-captions/x/1000"
    shares = [keys_of(mixed.records(0, Reader(i, 2), shuffle=True)) for i in range(2)]
    assert sorted(shares[0] + shares[1]) == sorted(keys_of(mixed))


def test_iterable_sources_interleave_and_cover_everything_once(tmp_path):
    write_coco(tmp_path / "coco", {"x": ["one", "two"], "y": ["three"]})
    shards = WebDatasetPairs(write_shards(tmp_path / "wds", good_shards(4, 5)), length=20)
    mixed = mix_sources([shards, CocoCaptionPairs(root=str(tmp_path / "coco"))])
    assert isinstance(mixed, InterleavedPairs) and mixed.weights == [20.0, 3.0]
    assert mixed.num_samples == 23
    for epoch in range(2):
        shares = [keys_of(mixed.records(epoch, Reader(i, 2), shuffle=True)) for i in range(2)]
        union = shares[0] + shares[1]
        assert len(union) == 23 and len(set(union)) == 23
    first = keys_of(mixed.records(0, Reader(), shuffle=True))
    assert first == keys_of(mixed.records(0, Reader(), shuffle=True))
    coco_positions = [i for i, key in enumerate(first) if key.startswith("coco-captions/")]
    assert len(coco_positions) == 3 and coco_positions != [20, 21, 22]  # mixed in, not appended


def test_source_specs_are_checked():
    with pytest.raises(UnknownNameError, match="synthetic, webdataset, coco-captions, hf"):
        build_source({"kind": "laion"})
    with pytest.raises(OvsegUserError, match=r"does not take 'url'.*urls"):
        build_source({"kind": "webdataset", "url": "x.tar"})
    with pytest.raises(OvsegUserError, match="distinct 'name'"):
        build_sources([{"kind": "synthetic", "length": 2}, {"kind": "synthetic", "length": 3}])
    source = build_sources(
        [{"kind": "synthetic", "length": 2}, {"kind": "synthetic", "length": 3, "name": "b"}]
    )
    assert len(source) == 5
    weighted = build_sources(
        [{"kind": "synthetic", "length": 2, "weight": 3}, {"kind": "synthetic", "length": 3, "name": "b"}]
    )
    assert isinstance(weighted, InterleavedPairs) and weighted.weights == [3.0, 1.0]
