"""Multi-scale backbone: a timm model with ``features_only=True``, its last four stages as NCHW maps.

S-Seg uses Swin-S (``swin_small_patch4_window7_224``: strides 4, 8, 16, 32 with 96, 192, 384, 768
channels). Any timm model with a features-only mode works; the tiny CPU recipe uses
``test_convnext`` (24..64 channels). Swin runs at any input size (``dynamic_img_size``).
"""

from __future__ import annotations

import torch
from torch import nn

from ovseg.errors import OvsegUserError


class TimmBackbone(nn.Module):
    """A timm feature extractor returning its last ``num_levels`` feature maps, finest first.

    Args:
        name: timm model name (a pretrained tag may follow a dot).
        pretrained: load timm's pretrained weights by name (downloads from the hub).
        weights: local weights file for the model (overrides ``pretrained``).
        num_levels: how many of the deepest stages to return.
    """

    def __init__(
        self,
        name: str = "swin_small_patch4_window7_224",
        pretrained: bool = False,
        weights: str | None = None,
        num_levels: int = 4,
    ) -> None:
        super().__init__()
        import timm

        kwargs = {"features_only": True, "pretrained": pretrained and weights is None}
        if weights is not None:
            kwargs["pretrained"] = True
            kwargs["pretrained_cfg_overlay"] = {"file": weights}
        try:
            try:
                self.body = timm.create_model(name, dynamic_img_size=True, **kwargs)
            except TypeError:  # models without the option take any size already
                self.body = timm.create_model(name, **kwargs)
        except OSError as error:
            raise OvsegUserError(
                f"could not load backbone weights for '{name}' ({type(error).__name__}). Without internet, "
                f"download https://huggingface.co/timm/{name} elsewhere and pass the file with "
                "--model.backbone_weights FILE, or train from scratch (--model.backbone_pretrained false)."
            ) from None
        info = self.body.feature_info
        if len(info.channels()) < num_levels:
            raise OvsegUserError(f"backbone '{name}' has {len(info.channels())} stages; {num_levels} needed.")
        self.levels = list(range(len(info.channels()) - num_levels, len(info.channels())))
        self.channels = [info.channels()[i] for i in self.levels]
        self.strides = [info.reduction()[i] for i in self.levels]
        self.channels_last = "NHWC" in str(getattr(self.body, "output_fmt", "NCHW"))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) → ``num_levels`` maps (B, C_i, H/s_i, W/s_i), finest first."""
        features = self.body(images)
        features = [features[i] for i in self.levels]
        if self.channels_last:
            features = [f.permute(0, 3, 1, 2) for f in features]  # NHWC → (B, C_i, h_i, w_i)
        return features
