"""The COCO Captions source: one sample per caption, five per image."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ovseg.data.pairs.base import MapPairSource
from ovseg.data.pairs.sharding import Reader, current_reader
from ovseg.data.segmentation import MissingDatasetError
from ovseg.errors import OvsegUserError


class CocoCaptionPairs(MapPairSource):
    """COCO Captions: every caption is its own sample (SegCLIP's recipe), five per image.

    Args:
        root: COCO folder holding ``{split}/`` and ``annotations/captions_{split}.json``.
        split: image split (train2017, val2017, train2014, ...).
        images: image folder, overriding ``root/split``.
        annotations: captions JSON, overriding ``root/annotations/captions_{split}.json``.
        name: key prefix.
        seed: shuffle seed.
    """

    kind = "coco-captions"

    def __init__(
        self,
        root: str = "data/coco",
        split: str = "train2017",
        images: str | None = None,
        annotations: str | None = None,
        name: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(name, seed)
        self.image_dir = Path(images) if images else Path(root) / split
        self.annotation_path = (
            Path(annotations) if annotations else Path(root) / "annotations" / f"captions_{split}.json"
        )
        layout = (
            "Expected COCO Captions as the COCO site ships them:\n"
            f"  {self.annotation_path}   (from annotations_trainval2017.zip)\n"
            f"  {self.image_dir}/*.jpg    (from {split}.zip)\n"
            "Point 'root' at the COCO folder, or give 'images' and 'annotations' explicitly."
        )
        for path, is_ok in ((self.annotation_path, Path.is_file), (self.image_dir, Path.is_dir)):
            if not is_ok(path):
                raise MissingDatasetError(f"coco-captions source: '{path}' does not exist.\n{layout}")
        data = json.loads(self.annotation_path.read_text())
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise OvsegUserError(
                f"'{self.annotation_path}' is not a COCO captions file: it needs 'images' and "
                "'annotations' lists (use captions_*.json, not instances_*.json)."
            )
        file_of = {image["id"]: image["file_name"] for image in data["images"]}
        annotations_ = sorted(
            (a for a in data["annotations"] if a["image_id"] in file_of),
            key=lambda a: (a["image_id"], a["id"]),
        )
        if not annotations_:
            raise OvsegUserError(
                f"'{self.annotation_path}' has no captions of listed images; nothing to train on."
            )
        self.file_names = [file_of[a["image_id"]] for a in annotations_]
        self.captions = [a["caption"] for a in annotations_]
        self.annotation_ids = [a["id"] for a in annotations_]
        first = self.image_dir / self.file_names[0]
        if not first.is_file():
            raise MissingDatasetError(f"coco-captions source: image '{first}' does not exist.\n{layout}")

    def __len__(self) -> int:
        return len(self.captions)

    def record(self, index: int) -> dict:
        file_name = self.file_names[index]
        image_key = f"{self.name}/{Path(file_name).stem}"
        return {
            "key": f"{image_key}/{self.annotation_ids[index]}",
            "image_key": image_key,
            "image": self.image_dir / file_name,
            "caption": self.captions[index],
        }

    def image_records(self, reader: Reader | None = None) -> Iterator[dict]:
        reader = reader or current_reader(self._dist)
        firsts = [i for i in range(len(self)) if i == 0 or self.file_names[i] != self.file_names[i - 1]]
        for index in firsts[reader.index :: reader.count]:
            yield self.record(index)
