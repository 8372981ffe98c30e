"""The Hugging Face ``datasets`` source: a local or hub dataset with an image and a text column."""

from __future__ import annotations

from pathlib import Path

from ovseg.data.pairs.base import MapPairSource
from ovseg.data.segmentation import MissingDatasetError
from ovseg.errors import OvsegUserError

_HF_FILE_BUILDERS = {
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".arrow": "arrow",
}
_HF_DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


class HFPairs(MapPairSource):
    """A Hugging Face ``datasets`` dataset with an image column and a text column.

    Args:
        path: a local dataset: a ``save_to_disk`` folder, a folder of data files or one data file
            (parquet, json, jsonl, csv, arrow).
        hub: a hub dataset name instead (needs network access or a filled HF cache).
        split: split to read when the dataset has several.
        image_column: column of images (``datasets.Image``, encoded bytes or paths).
        text_column: column of captions.
        key_column: column of unique sample ids (default: the row number).
        name: key prefix.
        seed: shuffle seed.
    """

    kind = "hf"

    def __init__(
        self,
        path: str | None = None,
        hub: str | None = None,
        split: str = "train",
        image_column: str = "image",
        text_column: str = "text",
        key_column: str | None = None,
        name: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(name, seed)
        if (path is None) == (hub is None):
            raise OvsegUserError(
                "hf source: give exactly one of 'path' (a local dataset) or 'hub' (a hub name)."
            )
        import datasets

        dataset = self._load(path, hub, split)
        columns = [image_column, text_column] + ([key_column] if key_column else [])
        missing = [c for c in columns if c not in dataset.column_names]
        if missing:
            raise OvsegUserError(
                f"hf source '{path or hub}' has no column {', '.join(map(repr, missing))}; its columns are "
                f"{', '.join(dataset.column_names)}. Set 'image_column' / 'text_column' to the right names."
            )
        dataset = dataset.select_columns(columns)
        if isinstance(dataset.features[image_column], datasets.Image):
            dataset = dataset.cast_column(image_column, datasets.Image(decode=False))
        self.dataset = dataset
        self.image_column = image_column
        self.text_column = text_column
        self.key_column = key_column
        self.base_dir = Path(path) if path is not None and Path(path).is_dir() else Path.cwd()

    @staticmethod
    def _load(path: str | None, hub: str | None, split: str):
        import datasets

        if hub is not None:
            try:
                loaded = datasets.load_dataset(hub, split=split)
            except Exception as error:
                raise OvsegUserError(
                    f"hf source: could not load hub dataset '{hub}' ({type(error).__name__}: {error}). "
                    "Without network access, save it once with save_to_disk and pass 'path' instead."
                ) from error
            return loaded
        local = Path(path)
        layout = (
            "Expected one of: a folder written by datasets' save_to_disk (with dataset_info.json and "
            "state.json, or dataset_dict.json), a folder of data files, or one .parquet/.json/.jsonl/"
            ".csv/.arrow file, with an image column and a text column."
        )
        if not local.exists():
            raise MissingDatasetError(f"hf source: '{local}' does not exist.\n{layout}")
        if local.is_dir() and any((local / marker).is_file() for marker in _HF_DISK_MARKERS):
            loaded = datasets.load_from_disk(str(local))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise OvsegUserError(
                        f"hf source '{local}' has no split '{split}'; its splits are {', '.join(loaded)}."
                    )
                loaded = loaded[split]
            return loaded
        if local.is_dir():
            return datasets.load_dataset(str(local), split=split)
        builder = _HF_FILE_BUILDERS.get(local.suffix.lower())
        if builder is None:
            raise OvsegUserError(f"hf source: cannot read '{local}' (unknown file type).\n{layout}")
        return datasets.load_dataset(builder, data_files=str(local), split="train")

    def __len__(self) -> int:
        return len(self.dataset)

    def record(self, index: int) -> dict:
        row = self.dataset[index]
        image = row[self.image_column]
        if isinstance(image, dict) and not image.get("bytes") and image.get("path"):
            image = self.base_dir / image["path"]
        elif isinstance(image, str):
            image = self.base_dir / image
        raw_key = row[self.key_column] if self.key_column else f"{index:09d}"
        key = f"{self.name}/{raw_key}"
        return {"key": key, "image_key": key, "image": image, "caption": row[self.text_column]}
