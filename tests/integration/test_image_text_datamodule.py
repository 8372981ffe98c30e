"""ImageTextDataModule end to end: batches, normalisation, skip counts, sharding over real processes."""

from __future__ import annotations

import json
import logging
import socket
from collections import Counter
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from ovseg.data.catalog import get_dataset_spec
from ovseg.data.image_text import ImageTextDataModule
from ovseg.data.pair_batches import EpochDataLoader, normalization_stats
from ovseg.data.pairs import WebDatasetPairs
from ovseg.data.segmentation import MissingDatasetError
from ovseg.errors import OvsegUserError, UnknownNameError
from ovseg.methods.base import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD
from tests.support.datasets import write_voc
from tests.support.segmenters import ColourSegmenter
from tests.unit.test_pairs import colour_image, encode, good_shards, write_coco, write_shards


def synthetic_module(**options) -> ImageTextDataModule:
    defaults = dict(val_dataset=None, synthetic_length=12, batch_size=4, num_workers=0, normalization="clip")
    return ImageTextDataModule(**{**defaults, **options})


def test_synthetic_batches_have_the_documented_format():
    module = synthetic_module(image_size=32, context_length=16, num_workers=2)
    module.setup("fit")
    batches = list(module.train_dataloader())
    assert len(batches) == 3
    batch = module.on_after_batch_transfer(batches[0], 0)
    assert set(batch) == {"image", "text", "caption", "crop_box", "key"}
    assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["text"].shape == (4, 16) and batch["text"].dtype == torch.int64
    assert batch["crop_box"].shape == (4, 4) and batch["crop_box"].dtype == torch.int64
    assert len(batch["caption"]) == len(batch["key"]) == 4 and all(batch["caption"])
    top, left, height, width = batch["crop_box"].T  # in the 64-px generated images
    assert ((top >= 0) & (left >= 0) & (top + height <= 64) & (left + width <= 64)).all()
    assert (height * width >= 0.5 * 64 * 64 - 64).all()
    pixels = batch["image"] * torch.tensor(CLIP_STD).view(1, 3, 1, 1) + torch.tensor(CLIP_MEAN).view(
        1, 3, 1, 1
    )
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    assert sorted(k for b in batches for k in b["key"]) == sorted(
        f"synthetic/synthetic-0-{i:08d}" for i in range(12)
    )


def test_defaults_work_out_of_the_box():
    try:
        get_dataset_spec("synthetic")
    except UnknownNameError:
        pytest.skip("this checkout has no synthetic benchmark yet")
    module = ImageTextDataModule(num_workers=0, synthetic_length=8, batch_size=4, val_limit=2)
    module.check_data()
    assert module.spec.name == "synthetic"
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].shape == (4, 3, 64, 64) and batch["text"].shape == (4, 77)
    assert len(list(module.val_dataloader())) == 2


def test_grayscale_crops_hold_their_luma_in_every_channel():
    def pixels(module: ImageTextDataModule) -> torch.Tensor:
        module.setup("fit")
        images = torch.cat([batch["image"] for batch in module.train_dataloader()])  # (N, 3, S, S)
        return images * torch.tensor(CLIP_STD).view(1, 3, 1, 1) + torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)

    colour = pixels(synthetic_module(image_size=32))
    grey = pixels(synthetic_module(image_size=32, grayscale_prob=1.0))
    luma = (colour * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1)  # (N, S, S)
    assert (grey[:, 0] - grey[:, 1]).abs().max() < 1e-5 and (grey[:, 1] - grey[:, 2]).abs().max() < 1e-5
    assert (grey[:, 0] - luma).abs().max() <= 0.5 / 255 + 1e-5  # the same crops, rounded to uint8
    assert (colour[:, 0] - colour[:, 2]).abs().max() > 0.2  # the scenes are coloured
    half = pixels(synthetic_module(image_size=32, grayscale_prob=0.5))
    is_grey = (half.amax(dim=1) - half.amin(dim=1)).flatten(1).amax(dim=1) < 1e-5  # (N,)
    assert 0 < int(is_grey.sum()) < len(is_grey)
    assert torch.equal(half, pixels(synthetic_module(image_size=32, grayscale_prob=0.5)))  # seeded


def test_weighted_map_sources_stream_with_an_exact_length():
    sources = [
        {"kind": "synthetic", "length": 10, "weight": 2.0},
        {"kind": "synthetic", "length": 7, "name": "b"},
    ]
    module = synthetic_module(sources=sources, num_workers=2, batch_size=3, drop_last=False)
    loader = module.train_dataloader()
    assert isinstance(loader, EpochDataLoader)
    batches = list(loader)
    assert len(loader) == len(batches) == 2 * 2 + 2 * 1 + 0  # workers read 9 and 8 samples
    assert sorted(k for b in batches for k in b["key"]) == sorted(
        [f"synthetic/synthetic-0-{i:08d}" for i in range(10)] + [f"b/synthetic-0-{i:08d}" for i in range(7)]
    )


def test_superpixels_come_with_the_crops():
    module = synthetic_module(image_size=24, superpixels=True, synthetic_length=4)
    batch = next(iter(module.train_dataloader()))
    labels = batch["superpixels"]  # (B, S, S)
    assert labels.shape == (4, 24, 24) and labels.dtype == torch.int64
    for crop_labels in labels:
        present = crop_labels.unique()
        assert present.tolist() == list(range(len(present)))  # renumbered 0..K-1


def test_auto_normalization_comes_from_the_attached_model():
    assert normalization_stats("auto", ColourSegmenter()) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert normalization_stats("imagenet", ColourSegmenter()) == (IMAGENET_MEAN, IMAGENET_STD)
    module = synthetic_module(normalization="auto")
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False
    )
    trainer.strategy.connect(ColourSegmenter())
    module.trainer = trainer
    module.setup("fit")
    assert module.normalization_stats() == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].min() >= 0 and batch["image"].max() <= 1


def test_auto_normalization_without_a_model_falls_back_to_clip(caplog):
    with caplog.at_level(logging.WARNING):
        assert normalization_stats("auto", None) == (CLIP_MEAN, CLIP_STD)
    assert "using CLIP statistics" in caplog.text


def write_mixed_data(root: Path) -> list[dict]:
    """Webdataset shards with two bad samples + COCO captions with one empty caption."""
    shards = good_shards(3, 4)
    shards[2].append({"key": "corrupt", "jpg": b"\xff\xd8 broken", "txt": "a corrupt picture"})
    shards[0].append({"key": "greyscale", "jpg": encode(colour_image(5).convert("L")), "txt": "grey"})
    shards[1].append({"key": "empty", "jpg": encode(colour_image(6)), "txt": " "})
    pattern = write_shards(root / "shards", shards)
    write_coco(root / "coco", {"a": ["one", "two", ""], "b": ["three"]})
    return [
        {"kind": "webdataset", "urls": pattern, "shuffle": 5},
        {"kind": "coco-captions", "root": str(root / "coco")},
    ]


def test_mixed_iterable_sources_cover_every_sample_once_and_count_skips(tmp_path):
    sources = write_mixed_data(tmp_path)
    module = synthetic_module(sources=sources, drop_last=False, num_workers=2, batch_size=3)
    module.check_data()
    loader = module.train_dataloader()
    assert isinstance(loader, EpochDataLoader)
    orders = []
    for _ in range(2):
        keys = []
        for batch in loader:
            keys += module.on_after_batch_transfer(batch, 0)["key"]
            assert "skipped" not in batch
        assert len(keys) == len(set(keys)) == 12 + 1 + 3
        orders.append(keys)
        assert module.report_skips() == {"unreadable_image": 1, "empty_caption": 2, "unreadable_shard": 0}
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])
    assert len(module.skip_history) == 2


def test_map_sources_replace_bad_samples_and_count_them(tmp_path):
    write_coco(tmp_path, {"a": ["one", "", "  "], "b": ["two", "three", "four"]})
    (tmp_path / "train2017" / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    module = synthetic_module(sources=[{"kind": "coco-captions", "root": str(tmp_path)}], batch_size=2)
    batches = [module.on_after_batch_transfer(batch, 0) for batch in module.train_dataloader()]
    assert [len(batch["key"]) for batch in batches] == [2, 2, 2]  # full batches despite 5 bad samples
    assert set(k for b in batches for k in b["key"]) == {"coco-captions/a/1000"}
    assert module.report_skips() == {"unreadable_image": 3, "empty_caption": 2, "unreadable_shard": 0}


class KeyRecorder(L.LightningModule):
    """The smallest trainable module: records the keys of every training batch."""

    image_mean = IMAGENET_MEAN
    image_std = IMAGENET_STD

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.keys: list[list[str]] = []

    def training_step(self, batch, batch_idx):
        assert "skipped" not in batch
        if batch_idx == 0:
            self.keys.append([])
        self.keys[-1] += batch["key"]
        return self.layer(batch["image"].mean(dim=(2, 3))).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_fit_reports_skips_every_epoch_and_reshuffles(tmp_path, caplog):
    module = ImageTextDataModule(
        sources=write_mixed_data(tmp_path), val_dataset=None, image_size=16, batch_size=4, drop_last=False
    )
    model = KeyRecorder()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    with caplog.at_level(logging.WARNING, logger="ovseg.data.image_text"):
        trainer.fit(model, datamodule=module)
    assert module._train_set.transform.mean == IMAGENET_MEAN
    expected = {"unreadable_image": 1, "empty_caption": 2, "unreadable_shard": 0}
    assert module.skip_history == [expected, expected]
    assert caplog.text.count("skipped 3 bad samples") == 2
    assert [len(set(keys)) for keys in model.keys] == [16, 16] and model.keys[0] != model.keys[1]


def test_val_test_predict_delegate_to_the_benchmark(tmp_path, monkeypatch):
    write_voc(tmp_path, [(20, 30), (24, 18)])
    monkeypatch.setenv("OVSEG_DATA_ROOT", str(tmp_path))
    module = ImageTextDataModule(val_dataset="voc", num_workers=0, val_limit=1)
    assert module.data_root == str(tmp_path) and module.spec.name == "voc"
    module.check_data()
    batches = list(module.val_dataloader())
    assert len(batches) == 1 and batches[0]["label"].shape == (1, 20, 30)
    assert len(list(module.test_dataloader())) == len(list(module.predict_dataloader())) == 1
    silent = synthetic_module()
    assert silent.spec is None and silent.val_dataloader() == []
    with pytest.raises(OvsegUserError, match="val_dataset"):
        silent.test_dataloader()


def test_missing_paths_raise_errors_naming_the_layout(tmp_path):
    cases = [
        ({"sources": [{"kind": "coco-captions", "root": str(tmp_path / "coco")}]}, "captions_train2017.json"),
        ({"sources": [{"kind": "webdataset", "urls": str(tmp_path / "{0..3}.tar")}]}, "img2dataset"),
        ({"sources": [{"kind": "hf", "path": str(tmp_path / "hf")}]}, "save_to_disk"),
        ({"superpixels": True, "superpixel_cache": str(tmp_path / "sp")}, "ovseg prepare superpixels"),
        ({"val_dataset": "voc", "data_root": str(tmp_path)}, "VOCdevkit"),
    ]
    for options, message in cases:
        with pytest.raises(MissingDatasetError, match=message):
            synthetic_module(**options).check_data()


def test_bad_options_fail_at_construction():
    with pytest.raises(UnknownNameError, match="synthetic, webdataset, coco-captions, hf"):
        ImageTextDataModule(sources=[{"kind": "cc3m"}])
    with pytest.raises(OvsegUserError, match="does not take 'folder'"):
        ImageTextDataModule(sources=[{"kind": "coco-captions", "folder": "x"}])
    with pytest.raises(UnknownNameError, match="auto, clip, imagenet, none"):
        ImageTextDataModule(normalization="openai")
    with pytest.raises(ValueError, match="crop scale"):
        ImageTextDataModule(crop_scale=(0.9, 0.1))
    with pytest.raises(OvsegUserError, match=r"grayscale_prob must lie in \[0, 1\]"):
        ImageTextDataModule(grayscale_prob=1.5)


# ----- two real processes × two dataloader workers ---------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_as_rank(rank: int, port: int, patterns: dict[str, str], out_dir: str, start_method: str) -> None:
    """One DDP process (gloo): read every source through 2-worker dataloaders, write the keys."""
    mp.set_start_method(start_method, force=True)  # how this process starts its dataloader workers
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    result: dict[str, list[str]] = {}
    for name, pattern in patterns.items():
        source = WebDatasetPairs(pattern, shuffle=6, seed=3)
        for epoch in range(2):
            source.set_epoch(epoch)
            loader = DataLoader(source, batch_size=None, num_workers=2)
            result[f"{name}/epoch{epoch}"] = [sample["key"] for sample in loader]
    module = ImageTextDataModule(
        sources=[{"kind": "webdataset", "urls": patterns["6 shards"], "shuffle": 6}],
        val_dataset=None,
        image_size=16,
        batch_size=4,
        num_workers=2,
        drop_last=False,
        normalization="clip",
    )
    loader = module.train_dataloader()
    for epoch in range(2):
        result[f"datamodule/epoch{epoch}"] = [key for batch in loader for key in batch["key"]]
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    torch.distributed.destroy_process_group()


def check_every_sample_once_across_2_processes_x_2_workers(tmp_path: Path, start_method: str) -> None:
    patterns = {
        "6 shards": write_shards(tmp_path / "six", good_shards(6, 5)),  # shard-wise: 2, 2, 1, 1 shards
        "3 shards": write_shards(tmp_path / "three", good_shards(3, 7)),  # sample-wise (3 < 4 readers)
    }
    mp.spawn(_read_as_rank, args=(_free_port(), patterns, str(tmp_path), start_method), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    expected = {"6 shards": 30, "3 shards": 21, "datamodule": 30}
    for name, total in expected.items():
        orders = []
        for epoch in range(2):
            keys = ranks[0][f"{name}/epoch{epoch}"] + ranks[1][f"{name}/epoch{epoch}"]
            counts = Counter(keys)
            assert len(counts) == total and set(counts.values()) == {1}, (name, epoch)
            assert ranks[0][f"{name}/epoch{epoch}"] and ranks[1][f"{name}/epoch{epoch}"]
            orders.append(ranks[0][f"{name}/epoch{epoch}"])
        assert orders[0] != orders[1]  # reshuffled per epoch


def test_webdataset_yields_every_sample_once_across_2_processes_x_2_workers(tmp_path):
    """Forked dataloader workers, as under a DDP launch: they inherit torch.distributed's state."""
    check_every_sample_once_across_2_processes_x_2_workers(tmp_path, "fork")


@pytest.mark.slow
def test_every_sample_once_with_spawned_dataloader_workers(tmp_path):
    """Spawned workers have no process group: the sources carry their rank in the pickle."""
    check_every_sample_once_across_2_processes_x_2_workers(tmp_path, "spawn")
