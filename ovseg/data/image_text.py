"""The data module both methods train with: image-text pairs for fit, a benchmark for evaluation.

Training batches are dicts::

    image        float (B, 3, S, S)   random resized crop, normalised
    text         int64 (B, L)         CLIP tokens, EOT last
    caption      list[str]
    crop_box     int64 (B, 4)         (top, left, height, width) in original image pixels
    key          list[str]
    superpixels  int64 (B, S, S)      only with superpixels=True; labels 0..K-1 per crop
    skipped      dict[str, int]       bad samples met while making this batch; the data module
                                      removes it in ``on_after_batch_transfer`` and sums it

How pairs become batches (map-style and streaming paths): ``ovseg.data.pair_batches``.

Skip counts are summed on each process and logged at the end of every epoch (one line per rank).
"""

from __future__ import annotations

import logging
from collections import Counter

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from ovseg.data.catalog import default_data_root, get_dataset_spec
from ovseg.data.pair_batches import (
    EpochDataLoader,
    MapPairTrainSet,
    PairTransform,
    StreamPairTrainSet,
    check_grayscale_prob,
    collate_pairs,
    normalization_stats,
)
from ovseg.data.pairs import (
    SKIP_REASONS,
    MapPairSource,
    PairSource,
    build_sources,
    check_source_spec,
    distributed_info,
)
from ovseg.data.resumable_loader import ResumableDataLoader, ResumableSampler
from ovseg.data.segmentation import SegDataModule, synthetic_stream
from ovseg.data.superpixels import SuperpixelCache, Superpixelizer, SuperpixelSettings
from ovseg.data.transforms import (
    NORMALIZATIONS,
    RandomResizedCropWithBox,
    Stats,
)
from ovseg.errors import OvsegUserError, UnknownNameError

log = logging.getLogger(__name__)


class ImageTextDataModule(L.LightningDataModule):
    """Image-text pairs for ``fit`` (SegCLIP, S-Seg) and a segmentation benchmark for evaluation.

    Args:
        sources: pair sources, each ``{"kind": KIND, **options}`` with KIND one of synthetic,
            webdataset, coco-captions, hf (see ``ovseg.data.pairs``), plus an optional "weight" for
            mixing; None: the built-in synthetic pairs.
        image_size: crop side S.
        batch_size: pairs per batch (per process).
        num_workers: dataloader workers per process.
        crop_scale: RandomResizedCrop area range.
        normalization: "auto" (the attached model's image_mean/std), "clip", "imagenet" or "none".
        context_length: tokens per caption (CLIP: 77; SegCLIP: 32).
        superpixels: add Felzenszwalb superpixels of each crop to the batches.
        superpixel_cache: folder from ``ovseg prepare superpixels`` (None: compute on the fly).
        superpixel_short_side, superpixel_scale, superpixel_sigma, superpixel_min_size: Felzenszwalb
            settings (SegCLIP's defaults).
        val_dataset: evaluation benchmark name for validate/test/predict (None: no validation).
        data_root: folder holding the benchmarks (None: $OVSEG_DATA_ROOT, else "data").
        val_limit: evaluate only the first images of the benchmark.
        val_split: the benchmark's split ("val": its evaluation split; the synthetic benchmark's
            "tune" is a stream of its own to choose recipes on).
        seed: shuffle and generator seed.
        synthetic_length: pairs in a synthetic source that does not set its own length.
        drop_last: drop incomplete training batches.
        grayscale_prob: chance that a training crop is turned to grey (its luma in all channels), so
            that colour alone cannot tell the captions apart (0: never).
    """

    def __init__(
        self,
        sources: list[dict] | None = None,
        image_size: int = 64,
        batch_size: int = 32,
        num_workers: int = 2,
        crop_scale: tuple[float, float] = (0.5, 1.0),
        normalization: str = "auto",
        context_length: int = 77,
        superpixels: bool = False,
        superpixel_cache: str | None = None,
        superpixel_short_side: int = 224,
        superpixel_scale: float = 224.0,
        superpixel_sigma: float = 0.9,
        superpixel_min_size: int = 224,
        val_dataset: str | None = "synthetic",
        data_root: str | None = None,
        val_limit: int | None = None,
        val_split: str = "val",
        seed: int = 0,
        synthetic_length: int = 4096,
        drop_last: bool = True,
        grayscale_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.source_specs = [
            dict(spec) for spec in (sources if sources is not None else [{"kind": "synthetic"}])
        ]
        for spec in self.source_specs:
            check_source_spec(spec)
        if normalization != "auto" and normalization not in NORMALIZATIONS:
            raise UnknownNameError(
                f"unknown normalization '{normalization}'. Valid values: auto, {', '.join(NORMALIZATIONS)}."
            )
        if batch_size < 1:
            raise OvsegUserError(f"batch_size must be at least 1, got {batch_size}.")
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.crop_scale = tuple(crop_scale)
        RandomResizedCropWithBox(image_size, self.crop_scale)  # fail now on a bad range
        self.normalization = normalization
        self.context_length = context_length
        self.superpixels = superpixels
        self.superpixel_cache = superpixel_cache
        self.superpixel_settings = SuperpixelSettings(
            superpixel_short_side, superpixel_scale, superpixel_sigma, superpixel_min_size
        )
        self.val_dataset = val_dataset
        self.data_root = default_data_root(data_root)
        self.val_limit = val_limit
        self.val_split = val_split
        if val_dataset is not None and get_dataset_spec(val_dataset).generated:
            synthetic_stream(val_split)  # a split the benchmark does not have fails before any model
        self.seed = seed
        self.synthetic_length = synthetic_length
        self.drop_last = drop_last
        self.grayscale_prob = check_grayscale_prob(grayscale_prob)  # fail now, not at the first batch
        self.skip_counts: Counter[str] = Counter()
        self.skip_history: list[dict[str, int]] = []
        self._unreported = False
        self._pairs: PairSource | None = None
        self._eval: SegDataModule | None = None
        self._train_set: Dataset | None = None
        self._train_loader: DataLoader | None = None
        self._resume_position: dict | None = None

    # ----- what the CLI uses ------------------------------------------------------------------
    @property
    def spec(self):
        """The evaluation benchmark's ``DatasetSpec`` (None without a val_dataset)."""
        eval_data = self._eval_data()
        return eval_data.spec if eval_data is not None else None

    def check_data(self) -> None:
        """Open every pair source and the benchmark now; missing files raise naming the layout."""
        _ = self.pairs
        if self.superpixels and self.superpixel_cache:
            SuperpixelCache(self.superpixel_cache).check(self.superpixel_settings)
        eval_data = self._eval_data()
        if eval_data is not None:
            eval_data.check_data()

    @property
    def pairs(self) -> PairSource:
        """The (mixed) pair source, built on first use."""
        if self._pairs is None:
            specs = []
            for spec in self.source_specs:
                spec = dict(spec)
                if spec["kind"] == "synthetic":
                    spec.setdefault("length", self.synthetic_length)
                    spec.setdefault("image_size", max(self.image_size, 64))
                specs.append(spec)
            self._pairs = build_sources(specs, {"seed": self.seed}, self.seed)
        return self._pairs

    def _eval_data(self) -> SegDataModule | None:
        if self.val_dataset is None:
            return None
        if self._eval is None:
            self._eval = SegDataModule(
                dataset=self.val_dataset,
                data_root=self.data_root,
                split=self.val_split,
                num_workers=self.num_workers,
                limit=self.val_limit,
                image_size=max(self.image_size, 64),  # the synthetic benchmark, like the synthetic pairs
                seed=self.seed,
            )
        return self._eval

    # ----- training data ----------------------------------------------------------------------
    def normalization_stats(self) -> tuple[Stats, Stats]:
        """(mean, std) the images are normalised with (see ``normalization``)."""
        module = None
        if self.trainer is not None:
            module = self.trainer.lightning_module
        return normalization_stats(self.normalization, module)

    def build_transform(self) -> PairTransform:
        mean, std = self.normalization_stats()
        superpixelizer = (
            Superpixelizer(self.superpixel_settings, self.superpixel_cache) if self.superpixels else None
        )
        return PairTransform(
            self.image_size,
            self.crop_scale,
            mean,
            std,
            self.context_length,
            superpixelizer,
            self.grayscale_prob,
        )

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self.check_data()
            self._train_set = self._build_train_set()
        elif self._eval_data() is not None:
            self._eval_data().setup(stage)

    def _build_train_set(self) -> Dataset:
        if isinstance(self.pairs, MapPairSource):
            return MapPairTrainSet(self.pairs, self.build_transform())
        return StreamPairTrainSet(
            self.pairs, self.build_transform(), self.batch_size, self.drop_last, self.num_workers
        )

    def train_dataloader(self) -> DataLoader:
        if self._train_set is None:
            self._train_set = self._build_train_set()
        common = {"num_workers": self.num_workers, "pin_memory": torch.cuda.is_available()}
        if isinstance(self._train_set, MapPairTrainSet):
            # resumable mid-epoch: its position is saved in checkpoints (ovseg.data.resumable_loader)
            loader = ResumableDataLoader(
                self._train_set,
                batch_size=self.batch_size,
                sampler=ResumableSampler(self._train_set, seed=self.seed),
                drop_last=self.drop_last,
                collate_fn=collate_pairs,
                persistent_workers=self.num_workers > 0,
                trainer_fn=lambda: self.trainer,
                **common,
            )
            if self._resume_position is not None:
                loader.resume(self._resume_position)
                self._resume_position = None
            self._train_loader = loader
            return loader
        return EpochDataLoader(self._train_set, batch_size=None, epoch_fn=self._current_epoch, **common)

    # ----- resuming -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The training data's place in its epoch, saved in every checkpoint (map-style sources)."""
        if isinstance(self._train_loader, ResumableDataLoader):
            return {"train_position": self._train_loader.position()}
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restored by Lightning before it builds the training loader, which then resumes there."""
        position = state.get("train_position")
        if position is not None and isinstance(self._train_loader, ResumableDataLoader):
            self._train_loader.resume(position)  # a strategy that restores after building the loader
        else:
            self._resume_position = position

    def _current_epoch(self) -> int | None:
        return self.trainer.current_epoch if self.trainer is not None else None

    # ----- evaluation data --------------------------------------------------------------------
    def val_dataloader(self):
        eval_data = self._eval_data()
        return eval_data.val_dataloader() if eval_data is not None else []

    def test_dataloader(self) -> DataLoader:
        return self._require_eval("test").test_dataloader()

    def predict_dataloader(self) -> DataLoader:
        return self._require_eval("predict").predict_dataloader()

    def _require_eval(self, stage: str) -> SegDataModule:
        eval_data = self._eval_data()
        if eval_data is None:
            raise OvsegUserError(f"{stage} needs a benchmark: set --data.val_dataset (for example voc).")
        return eval_data

    # ----- skip accounting --------------------------------------------------------------------
    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Take the skip counts off a training batch; report them with the epoch's last batch."""
        if isinstance(batch, dict) and "skipped" in batch:
            self.skip_counts.update(batch.pop("skipped"))
            self._unreported = True
            trainer = self.trainer
            if trainer is not None and trainer.training and trainer.is_last_batch:
                self.report_skips()
        return batch

    def report_skips(self) -> dict[str, int]:
        """Log this process's skip counts since the last report, keep them in ``skip_history``, reset."""
        counts = {
            reason: int(self.skip_counts.get(reason, 0)) for reason in (*SKIP_REASONS, *self.skip_counts)
        }
        epoch = self.trainer.current_epoch if self.trainer is not None else len(self.skip_history)
        rank, world = distributed_info()
        where = f"rank {rank}/{world}, " if world > 1 else ""
        total = sum(counts.values())
        details = ", ".join(f"{reason} {n}" for reason, n in counts.items())
        level = logging.WARNING if total else logging.INFO
        log.log(
            level, "image-text pairs, %sepoch %d: skipped %d bad samples (%s)", where, epoch, total, details
        )
        self.skip_history.append(counts)
        self.skip_counts = Counter()
        self._unreported = False
        return counts

    def teardown(self, stage: str) -> None:
        if stage == "fit" and self._unreported:
            self.report_skips()
