"""Class-agnostic mask sources for the oracle: an image in, a map of segment ids at its size out.

Each source takes one evaluation image as the data module loads it, uint8 (3, H, W) at its own
size, works at its own resolution, and returns int64 segment ids (H, W) at the image's size
(nearest-neighbour resize):

- ``dino``: S-Seg's pseudo-masks (``DinoPseudoMasks``): K-Means (K clusters) of frozen DINO ViT-S/8
  patch features, the image resized to a short side of 224 px (sides rounded to whole patches).
- ``pixel``: S-Seg's weight-free source (``PixelPseudoMasks``): K-Means of colour + position on a
  16 × 16 grid of the image (the paper's "raw RGB K-Means" baseline).
- ``felzenszwalb``: scikit-image's graph segmentation with SegCLIP's superpixel settings (scale 224,
  sigma 0.9, min_size 224 at short side 224; ``ovseg.data.superpixels``).
- ``segclip``: a SegCLIP checkpoint's groups: the hard patch → group assignment, upsampled as its
  inference does (``group_membership(..., "upsampled")``), on the image at the model's input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ovseg.errors import OvsegUserError
from ovseg.methods.base import IMAGENET_MEAN, IMAGENET_STD

MASK_SOURCES = ("dino", "pixel", "felzenszwalb", "segclip")


@dataclass(frozen=True)
class MaskSettings:
    """Settings of the mask sources (each source reads its own).

    Attributes:
        k: clusters per image (dino, pixel).
        short_side: side the image is resized to (dino: 224, felzenszwalb: 224, segclip: the
            model's training size); None: each source's default.
        grid: the pixel source's grid side.
        position_weight: the pixel source's weight of position against colour.
        dino_weights: local DINO weights file (None: download by name).
        dino_feature: tokens or keys.
        dino_pretrained: load DINO weights at all (False: random weights, for tests).
        scale, sigma, min_size: Felzenszwalb's parameters.
        kmeans_iters, seed: K-Means rounds and seeding.
    """

    k: int = 8
    short_side: int | None = None
    grid: int = 16
    position_weight: float = 0.5
    dino_weights: str | None = None
    dino_feature: str = "tokens"
    dino_pretrained: bool = True
    scale: float = 224.0
    sigma: float = 0.9
    min_size: int = 224
    kmeans_iters: int = 20
    seed: int = 0


def resize_ids(ids: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(h, w) segment ids → (H, W) by nearest neighbour (pixel centres)."""
    if tuple(ids.shape) == tuple(size):
        return ids.long()
    resized = F.interpolate(ids[None, None].double(), size=size, mode="nearest-exact")  # (1, 1, H, W)
    return resized[0, 0].long()


def _normalise(image: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 (3, H, W) → ImageNet-normalised float (1, 3, H, W)."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (image[None].to(device).float() / 255.0 - mean) / std


def _short_side_to_multiple(size: tuple[int, int], short_side: int, multiple: int) -> tuple[int, int]:
    scale = short_side / min(size)
    return tuple(max(multiple, round(side * scale / multiple) * multiple) for side in size)


class PixelMasks:
    """K-Means on colour + position (``PixelPseudoMasks``)."""

    name = "pixel"

    def __init__(self, settings: MaskSettings, device: str = "cpu") -> None:
        from ovseg.methods.sseg.pseudo_masks import PixelPseudoMasks

        self.device = device
        self.source = PixelPseudoMasks(
            k=settings.k,
            grid=settings.grid,
            position_weight=settings.position_weight,
            backend="torch",
            iters=settings.kmeans_iters,
            seed=settings.seed,
        ).to(device)

    def describe(self) -> dict:
        s = self.source
        return {"source": self.name, "k": s.k, "grid": s.grid, "position_weight": s.position_weight}

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        ids = self.source.cluster(_normalise(image, self.device))[0]  # (g, g)
        return resize_ids(ids.cpu(), tuple(image.shape[-2:]))  # (H, W)


class DinoMasks:
    """K-Means of DINO patch features (``DinoPseudoMasks``), image at a short side of 224 px."""

    name = "dino"

    def __init__(self, settings: MaskSettings, device: str = "cpu") -> None:
        from ovseg.methods.sseg.pseudo_masks import DinoPseudoMasks

        self.device = device
        self.short_side = settings.short_side or 224
        try:
            self.source = DinoPseudoMasks(
                k=settings.k,
                feature=settings.dino_feature,
                backend="torch",
                iters=settings.kmeans_iters,
                input_size=None,  # resized here, keeping the aspect ratio
                weights=settings.dino_weights,
                pretrained=settings.dino_pretrained,
                seed=settings.seed,
            ).to(device)
        except OvsegUserError as error:
            raise OvsegUserError(
                f"DINO masks need DINO ViT-S/8 weights: {error} For 'ovseg oracle' pass the file with "
                "--dino-weights FILE (model.safetensors from huggingface.co/timm/vit_small_patch8_224.dino"
                ", or DINO's dino_deitsmall8_pretrain.pth), or pick --masks pixel|felzenszwalb."
            ) from None
        self.patch = self.source.dino.patch_size
        self.weights = settings.dino_weights

    def describe(self) -> dict:
        s = self.source
        return {"source": self.name, "k": s.k, "short_side": self.short_side, "weights": self.weights}

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        size = tuple(image.shape[-2:])
        inputs = _normalise(image, self.device)
        resized = _short_side_to_multiple(size, self.short_side, self.patch)
        inputs = F.interpolate(inputs, size=resized, mode="bilinear", align_corners=False)  # (1, 3, h, w)
        ids = self.source.cluster(inputs)[0]  # (h/p, w/p)
        return resize_ids(ids.cpu(), size)  # (H, W)


class FelzenszwalbMasks:
    """scikit-image's Felzenszwalb segmentation at SegCLIP's superpixel settings."""

    name = "felzenszwalb"

    def __init__(self, settings: MaskSettings, device: str = "cpu") -> None:
        from ovseg.data.superpixels.compute import SuperpixelSettings

        self.settings = SuperpixelSettings(
            short_side=settings.short_side or 224,
            scale=settings.scale,
            sigma=settings.sigma,
            min_size=settings.min_size,
        )

    def describe(self) -> dict:
        s = self.settings
        return {"source": self.name, "short_side": s.short_side, "scale": s.scale, "sigma": s.sigma,
                "min_size": s.min_size}  # fmt: skip

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        from ovseg.data.superpixels.compute import compute_superpixels

        picture = Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy()))
        ids = torch.from_numpy(compute_superpixels(picture, self.settings).astype(np.int64))  # (h, w)
        return resize_ids(ids, tuple(image.shape[-2:]))  # (H, W)


class SegCLIPGroupMasks:
    """A SegCLIP model's groups: the upsampled hard assignment of patches to its L centers."""

    name = "segclip"

    def __init__(self, module, settings: MaskSettings, checkpoint: str | None = None) -> None:
        self.module = module.eval()  # eval: no Gumbel noise
        self.short_side = settings.short_side or int(module.hparams.get("image_size", 224))
        self.checkpoint = checkpoint

    def describe(self) -> dict:
        return {"source": self.name, "short_side": self.short_side, "checkpoint": self.checkpoint}

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        from ovseg.methods.segclip.inference import group_membership

        model, size = self.module.model, tuple(image.shape[-2:])
        patch = model.visual.patch_size
        inputs = self.module.normalize(image[None].to(self.module.device))  # (1, 3, H, W)
        scale = self.short_side / min(size)
        resized = tuple(max(1, round(side * scale)) for side in size)
        inputs = F.interpolate(inputs, size=resized, mode="bilinear", align_corners=False)  # (1, 3, h, w)
        inputs = F.pad(inputs, (0, -resized[1] % patch, 0, -resized[0] % patch))  # (1, 3, h', w')
        out = model.encode_image(inputs)
        padded = (out.grid[0] * patch, out.grid[1] * patch)
        weights = group_membership(out, padded, "upsampled")  # (1, L, h', w') one-hot
        ids = weights[0].argmax(dim=0)[: resized[0], : resized[1]]  # (h, w)
        return resize_ids(ids.cpu(), size)  # (H, W)


def build_mask_source(
    name: str,
    settings: MaskSettings = MaskSettings(),
    device: str = "cpu",
    checkpoint: str | None = None,
):
    """The source called ``name``; ``segclip`` needs ``checkpoint`` (a SegCLIP .ckpt, export or .bin)."""
    if name not in MASK_SOURCES:
        raise OvsegUserError(f"unknown --masks '{name}'. Valid sources: {', '.join(MASK_SOURCES)}.")
    if name == "segclip":
        if checkpoint is None:
            raise OvsegUserError(
                "--masks segclip needs a SegCLIP checkpoint: --ckpt FILE (a .ckpt, an 'ovseg export' "
                ".safetensors, or the released segclip.bin)."
            )
        from ovseg.load_segmenter import load_segmenter

        return SegCLIPGroupMasks(load_segmenter(checkpoint, "segclip", device), settings, str(checkpoint))
    return {"dino": DinoMasks, "pixel": PixelMasks, "felzenszwalb": FelzenszwalbMasks}[name](settings, device)
