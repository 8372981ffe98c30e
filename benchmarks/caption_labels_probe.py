"""Can a backbone learn the synthetic categories from the captions alone, by shape?

Each synthetic category is one shape family whose hue range overlaps its neighbours' (so colour is
a cue but never decides it). This probe takes the captions' weakest useful signal, the category
words each one names, and trains a timm backbone with a linear head on them as multi-label targets
(binary cross-entropy), no text encoder involved. With ``--grayscale-prob 1`` every training crop is
grey, so only the shapes can tell the categories apart. It then prints the recognition AUC on the
evaluation images, in colour and turned grey: for each category, how well the scores rank the images
that hold it above those that do not (0.5 is chance), averaged over the categories.

If a backbone cannot learn the shapes even from these direct image-level labels, a method trained
through a text encoder on the whole captions will not either, at that budget. ``--labels scenes``
replaces the caption's words with the scene's true categories (every drawn object, none left out),
to tell the captions' omissions from the weakness of image-level labels as such.

Run: .venv/bin/python benchmarks/caption_labels_probe.py [--backbone test_convnext]
     [--grayscale-prob 1.0] [--labels captions|scenes] [--steps 1000] [--batch-size 32] [--lr 2e-3]
"""

from __future__ import annotations

import argparse
import math
import re
import time

import timm
import torch
import torch.nn.functional as F

from ovseg.bench.naming import classes_held, mean_recognition_auc
from ovseg.data.classnames import SYNTHETIC_CLASSES
from ovseg.data.image_text import ImageTextDataModule
from ovseg.data.pair_batches import to_grayscale
from ovseg.data.synthetic import SyntheticSegDataset, render_scene
from ovseg.data.transforms import get_normalization, normalize

# the words that name each category: the name and its plural (box -> boxes, star -> stars)
CATEGORY_WORDS = [{name, name + "s", name + "es"} for name in SYNTHETIC_CLASSES]
# a ViT sized like the tiny selftrain recipe's (patch 8 on 64 px crops, 4 blocks of width 96)
VIT_SIZE = {"img_size": 64, "patch_size": 8, "depth": 4, "embed_dim": 96, "num_heads": 3}


def named_categories(captions: list[str]) -> torch.Tensor:
    """(B, C) float targets: 1 where a caption names category c (singular or plural)."""
    targets = torch.zeros(len(captions), len(SYNTHETIC_CLASSES))  # (B, C)
    for row, caption in enumerate(captions):
        words = set(re.findall(r"[a-z]+", caption.lower()))
        for category, names in enumerate(CATEGORY_WORDS):
            targets[row, category] = float(bool(words & names))
    return targets


def scene_categories(keys: list[str]) -> torch.Tensor:
    """(B, C) float targets: 1 for every category drawn in the scene (keys "…synthetic-SEED-INDEX")."""
    targets = torch.zeros(len(keys), len(SYNTHETIC_CLASSES))  # (B, C)
    for row, key in enumerate(keys):
        seed, index = (int(part) for part in key.rsplit("-", 2)[1:])
        targets[row, list(render_scene(seed, index, "train", 64).categories)] = 1.0
    return targets


def train(args: argparse.Namespace) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    extra = VIT_SIZE if args.backbone.startswith("vit_") else {}
    net = timm.create_model(args.backbone, pretrained=False, num_classes=len(SYNTHETIC_CLASSES), **extra)
    data = ImageTextDataModule(
        image_size=64,
        batch_size=args.batch_size,
        num_workers=0,
        val_dataset=None,
        normalization="clip",
        grayscale_prob=args.grayscale_prob,
        seed=args.seed,
    )
    data.setup("fit")
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.05)
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(step / args.steps, 1.0)))),
    )  # linear warm-up over 5 % of the steps, then cosine decay
    net.train()
    step, started = 0, time.perf_counter()
    while step < args.steps:
        for batch in data.train_dataloader():
            logits = net(batch["image"])  # (B, C)
            if args.labels == "scenes":
                targets = scene_categories(batch["key"])  # (B, C)
            else:
                targets = named_categories(batch["caption"])  # (B, C)
            loss = F.binary_cross_entropy_with_logits(logits, targets)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            if step % 250 == 0 or step == args.steps:
                print(
                    f"step {step}: loss {loss.item():.3f} ({time.perf_counter() - started:.0f} s)", flush=True
                )
            if step == args.steps:
                break
    return net.eval()


@torch.no_grad()
def recognition(net: torch.nn.Module, images: int) -> dict[str, float]:
    """Mean recognition AUC on the first ``images`` evaluation images, in colour and grey."""
    data = SyntheticSegDataset(length=images, image_size=64)
    pixels = torch.stack([data[i]["image"] for i in range(images)])  # (N, 3, H, W) uint8
    labels = torch.stack([data[i]["label"] for i in range(images)])  # (N, H, W)
    holds = classes_held(labels, len(SYNTHETIC_CLASSES))  # (N, C)
    mean, std = get_normalization("clip")
    grey = torch.stack([to_grayscale(image) for image in pixels])  # (N, 3, H, W)
    return {
        view: mean_recognition_auc(net(normalize(batch, mean, std)), holds)  # scores (N, C)
        for view, batch in (("colour", pixels), ("grey", grey))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="test_convnext", help="a timm model name")
    parser.add_argument("--grayscale-prob", type=float, default=1.0)
    parser.add_argument("--labels", choices=("captions", "scenes"), default="captions")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-images", type=int, default=256)
    args = parser.parse_args()
    net = train(args)
    parameters = sum(p.numel() for p in net.parameters()) / 1e6
    share = f"{args.grayscale_prob:.0%}"
    print(
        f"{args.backbone} ({parameters:.2f}M), {args.labels} labels, grey crops {share}, {args.steps} steps"
    )
    for view, auc in recognition(net, args.eval_images).items():
        print(f"recognition AUC on {view} evaluation images: {auc:.3f} (chance 0.500)")


if __name__ == "__main__":
    main()
