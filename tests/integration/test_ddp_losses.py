"""Two gloo processes under real DistributedDataParallel compute what one process does on the global batch.

One ``torch.multiprocessing.spawn`` run (2 processes, ``init_process_group("gloo")``) computes, on its
half of a fixed global batch: the contrastive loss with gathered negatives, S-Seg's mask loss
normalised by the global number of masks, and ``SemSegIoU`` on an uneven split of 5 images. Each
test compares one of them with a single process holding the whole batch.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ovseg.evaluation.metrics import SemSegIoU
from ovseg.methods.sseg.criterion import MaskCriterion
from ovseg.nn.contrastive import LogitScale, contrastive_loss

WORLD = 2
GLOBAL_BATCH = 4
MASKS_PER_IMAGE = (3, 1, 0, 1)  # rank 0 holds 4 pseudo-masks, rank 1 holds 1: normalisation matters
IOU_IMAGES = 5  # rank 0 scores images 0, 2, 4 and rank 1 images 1, 3 (no padding)


class TwoTowers(nn.Module):
    """Image and text projections plus CLIP's learnable temperature; returns the contrastive loss."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Linear(6, 8)
        self.text = nn.Linear(5, 8)
        self.scale = LogitScale()

    def forward(self, images: torch.Tensor, texts: torch.Tensor) -> tuple[torch.Tensor, ...]:
        image_features = self.image(images)  # (B, 8)
        text_features = self.text(texts)  # (B, 8)
        image_features.retain_grad()
        text_features.retain_grad()
        return contrastive_loss(image_features, text_features, self.scale()), image_features, text_features


class MaskHeads(nn.Module):
    """Final and auxiliary mask logits from features; returns S-Seg's mask loss."""

    def __init__(self) -> None:
        super().__init__()
        self.final = nn.Conv2d(4, 5, 1)
        self.aux = nn.Conv2d(4, 5, 1)

    def forward(self, features: torch.Tensor, targets: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return MaskCriterion()(self.final(features), [self.aux(features)], targets)


def pair_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(GLOBAL_BATCH, 6, generator=generator), torch.randn(
        GLOBAL_BATCH, 5, generator=generator
    )


def mask_batch() -> tuple[torch.Tensor, list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(GLOBAL_BATCH, 4, 6, 6, generator=generator)  # (B, C, h, w)
    targets = [(torch.rand(k, 6, 6, generator=generator) > 0.5).float() for k in MASKS_PER_IMAGE]
    return features, targets


def label_maps() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    pred = torch.randint(0, 4, (IOU_IMAGES, 5, 7), generator=generator)  # (N, H, W)
    target = torch.randint(0, 4, (IOU_IMAGES, 5, 7), generator=generator)  # (N, H, W)
    target[torch.rand(target.shape, generator=generator) < 0.2] = 255  # ignored pixels
    return pred, target


def build(module_class: type[nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    return module_class()


def grads(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: param.grad.detach().clone() for name, param in module.named_parameters()}


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    rows = slice(rank * GLOBAL_BATCH // WORLD, (rank + 1) * GLOBAL_BATCH // WORLD)
    result = {}

    towers = DistributedDataParallel(build(TwoTowers))
    images, texts = pair_batch()
    loss, image_features, text_features = towers(images[rows], texts[rows])
    loss.backward()  # DDP averages the parameter gradients over the processes
    result["contrastive"] = {
        "loss": loss.detach(),
        "grads": grads(towers.module),
        "image_feature_grad": image_features.grad,
        "text_feature_grad": text_features.grad,
    }

    heads = DistributedDataParallel(build(MaskHeads))
    features, targets = mask_batch()
    losses = heads(features[rows], targets[rows])
    losses["mask"].backward()
    result["mask"] = {
        "loss": losses["mask"].detach(),
        "num_masks": losses["num_masks"],
        "grads": grads(heads.module),
    }

    metric = SemSegIoU(num_classes=4)
    pred, target = label_maps()
    metric.update(pred[rank::WORLD], target[rank::WORLD])
    result["iou"] = {"scores": metric.compute(), "local_images": len(range(rank, IOU_IMAGES, WORLD))}

    torch.save(result, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    """What each of the 2 processes computed on its half of the global batch."""
    folder = tmp_path_factory.mktemp("ddp_losses")
    mp.spawn(_worker, args=(str(folder / "init"), str(folder)), nprocs=WORLD, join=True)
    return [torch.load(folder / f"rank{rank}.pt") for rank in range(WORLD)]


def _mean(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(values).mean(dim=0)


def test_contrastive_loss_with_gathered_negatives_equals_one_process_on_the_global_batch(ranks):
    towers = build(TwoTowers)
    images, texts = pair_batch()
    loss, image_features, text_features = towers(images, texts)
    loss.backward()
    # The loss DDP optimises is the mean of the processes' losses.
    torch.testing.assert_close(_mean([r["contrastive"]["loss"] for r in ranks]), loss.detach())
    for name, expected in grads(towers).items():  # towers and logit scale, after DDP's averaging
        for rank in ranks:
            torch.testing.assert_close(rank["contrastive"]["grads"][name], expected, msg=name)
    # A process's features get the gradient of every process's loss (all_gather's backward sums),
    # i.e. WORLD × the global loss's gradient; DDP's 1/WORLD averaging of the towers' gradients
    # turns that into exactly the single-process gradient checked above.
    for rank, result in enumerate(ranks):
        rows = slice(rank * 2, rank * 2 + 2)
        torch.testing.assert_close(
            result["contrastive"]["image_feature_grad"] / WORLD, image_features.grad[rows]
        )
        torch.testing.assert_close(
            result["contrastive"]["text_feature_grad"] / WORLD, text_features.grad[rows]
        )


def test_mask_loss_normalised_by_the_global_mask_count_equals_one_process(ranks):
    heads = build(MaskHeads)
    features, targets = mask_batch()
    losses = heads(features, targets)
    losses["mask"].backward()
    assert float(losses["num_masks"]) == sum(MASKS_PER_IMAGE)
    assert [float(r["mask"]["num_masks"]) for r in ranks] == [sum(MASKS_PER_IMAGE) / WORLD] * WORLD
    torch.testing.assert_close(_mean([r["mask"]["loss"] for r in ranks]), losses["mask"].detach())
    for name, expected in grads(heads).items():
        for rank in ranks:
            torch.testing.assert_close(rank["mask"]["grads"][name], expected, msg=name)


def test_semseg_iou_summed_over_two_processes_equals_one_process_on_the_same_images(ranks):
    metric = SemSegIoU(num_classes=4)
    metric.update(*label_maps())
    expected = metric.compute()
    assert sum(r["iou"]["local_images"] for r in ranks) == IOU_IMAGES  # an uneven split, 3 + 2
    for rank in ranks:
        scores = rank["iou"]["scores"]
        for key in ("mIoU", "aAcc", "mAcc"):
            assert scores[key] == pytest.approx(expected[key], abs=1e-9), key
        assert scores["IoU"] == pytest.approx(expected["IoU"], abs=1e-9, nan_ok=True)
