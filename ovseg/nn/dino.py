"""Frozen DINO ViT patch features (timm), the input of S-Seg's pseudo-mask generator.

The default is DINO's ViT-S/8 (``vit_small_patch8_224.dino``): 384-d features on an 8-pixel grid,
so a 224 px image gives 28 × 28 patches. Weights come from the Hugging Face hub by timm's name, or
from a local file (timm's ``model.safetensors``/``pytorch_model.bin``, or DINO's own
``dino_deitsmall8_pretrain.pth``). The model never trains: no gradients, always in eval mode.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ovseg.errors import OvsegUserError
from ovseg.safe_load import read_state_dict

DINO_MODEL = "vit_small_patch8_224.dino"
DINO_FEATURES = ("tokens", "keys")
_HUB_PAGE = "https://huggingface.co/timm/{name}"
_DINO_RELEASE = "https://dl.fbaipublicfiles.com/dino/dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth"


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A weights file as a flat state dict, read by ``ovseg.safe_load`` (never unrestricted unpickling).

    DINO's own training checkpoints keep the network under "teacher"; DDP's ``module.`` and DINO's
    ``backbone.`` prefixes are removed.
    """
    return read_state_dict(
        path, wrappers=("teacher", "state_dict", "model"), strip_prefixes=("module.", "backbone.")
    )


class DinoFeatures(nn.Module):
    """Frozen timm DINO ViT: images → last-block patch features on the patch grid.

    Args:
        model_name: timm model name (with its pretrained tag).
        weights: local weights file; None: download by ``model_name`` when ``pretrained``.
        pretrained: load pretrained weights (False: random init, for tests).
        feature: "tokens" (the last block's output tokens, after the final norm) or "keys" (the
            last block's attention keys, all heads concatenated).
    """

    def __init__(
        self,
        model_name: str = DINO_MODEL,
        weights: str | None = None,
        pretrained: bool = True,
        feature: str = "tokens",
    ) -> None:
        super().__init__()
        if feature not in DINO_FEATURES:
            raise OvsegUserError(
                f"unknown DINO feature '{feature}'. Valid values: {', '.join(DINO_FEATURES)}."
            )
        import timm

        self.feature = feature
        download = pretrained and weights is None
        try:
            self.vit = timm.create_model(
                model_name, pretrained=download, num_classes=0, dynamic_img_size=True
            )
        except OSError as error:
            raise OvsegUserError(
                f"could not download the DINO weights '{model_name}' ({type(error).__name__}). Without "
                f"internet, fetch model.safetensors from {_HUB_PAGE.format(name=model_name)} (or DINO's "
                f"release {_DINO_RELEASE}) elsewhere and pass the file: --model.dino_weights FILE "
                "(or use pseudo-masks that need no weights: --model.pseudo_masks pixel)."
            ) from None
        if weights is not None:
            self._load(weights)
        self.vit.requires_grad_(False)
        self.vit.eval()
        self.patch_size = self.vit.patch_embed.patch_size[0]
        self.num_prefix_tokens = self.vit.num_prefix_tokens
        self.dim = self.vit.embed_dim
        self._keys: torch.Tensor | None = None
        self.vit.blocks[-1].attn.qkv.register_forward_hook(self._keep_keys)

    def _load(self, path: str) -> None:
        state = load_state_dict_file(path)
        missing, unexpected = self.vit.load_state_dict(state, strict=False)
        missing = [key for key in missing if not key.startswith("head")]
        unexpected = [key for key in unexpected if not key.startswith("head")]
        if missing or unexpected:
            raise OvsegUserError(
                f"'{path}' is not a {type(self.vit).__name__} DINO checkpoint: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}. Use timm's vit_small_patch8_224.dino file or DINO's "
                "dino_deitsmall8_pretrain.pth."
            )

    def _keep_keys(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if self.feature == "keys":
            self._keys = output[..., self.dim : 2 * self.dim]  # (B, P, C): q | k | v along the last dim

    def train(self, mode: bool = True) -> DinoFeatures:
        """Stays in eval mode: the teacher is frozen."""
        super().train(mode)
        self.vit.eval()
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet-normalised images (B, 3, H, W) → features (B, H/p, W/p, C), p the patch size."""
        batch, _, height, width = images.shape
        grid = (height // self.patch_size, width // self.patch_size)
        tokens = self.vit.forward_features(images)  # (B, P, C), P = prefix + patches
        if self.feature == "keys":
            tokens, self._keys = self._keys, None
        patches = tokens[:, self.num_prefix_tokens :]  # (B, h*w, C)
        return patches.reshape(batch, *grid, -1)  # (B, h, w, C)
