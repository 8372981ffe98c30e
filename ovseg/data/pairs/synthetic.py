"""The synthetic source: the built-in generated pairs, for smoke tests and demos."""

from __future__ import annotations

from ovseg.data.pairs.base import MapPairSource


class SyntheticPairs(MapPairSource):
    """The built-in generated pairs (``ovseg.data.synthetic.SyntheticPairDataset``).

    Args:
        length: number of pairs.
        image_size: side of the generated images.
        seed: generator seed (also the shuffle seed).
        name: key prefix.
    """

    kind = "synthetic"

    def __init__(
        self, length: int = 4096, image_size: int = 64, seed: int = 0, name: str | None = None
    ) -> None:
        super().__init__(name, seed)
        from ovseg.data.synthetic import SyntheticPairDataset

        self.dataset = SyntheticPairDataset(length=length, image_size=image_size, seed=seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def record(self, index: int) -> dict:
        item = self.dataset[index]
        key = f"{self.name}/{item['key']}"
        return {"key": key, "image_key": key, "image": item["image"], "caption": item["caption"]}
