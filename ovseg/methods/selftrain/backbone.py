"""A timm ViT whose intermediate blocks are the segmenter's features (MAE's segmentation set-up).

S-Seg+ trains "UperNet with an MAE pre-trained ViT" (S-Seg §4). As in MAE's (BEiT's) segmentation
code, the features are the token maps after blocks 4, 6, 8 and 12 of ViT-B (0-based 3, 5, 7, 11),
without the final norm, reshaped to (B, D, H/p, W/p).

Weights: timm's pretrained weights by name (``vit_base_patch16_224.mae`` comes from the Hugging
Face hub), a local file read by ``ovseg.safe_load`` (timm's or MAE's own key names; ``pos_embed``
is resampled to the model's grid), or none (random init).
"""

from __future__ import annotations

import torch
from torch import nn

from ovseg.errors import OvsegUserError

MAE_VIT_B = "vit_base_patch16_224.mae"
_OPTIONAL_KEYS = ("head.", "fc_norm.", "norm.")  # unused by the features: may be absent from a file
_DROPPED_KEYS = ("decoder", "mask_token")  # MAE's pre-training decoder, if a full checkpoint is given


def _offline_error(name: str) -> OvsegUserError:
    repo = name if "/" in name else f"timm/{name}"
    return OvsegUserError(
        f"could not fetch the pretrained weights of '{name}' (no internet, or the hub refused). On a "
        f"machine with internet, download model.safetensors from https://huggingface.co/{repo}, put it "
        f"here (for example weights/{name.split('/')[-1]}.safetensors) and pass --model.backbone_weights "
        "weights/FILE; or train from scratch with --model.backbone_pretrained false."
    )


class ViTFeatures(nn.Module):
    """Token maps of chosen ViT blocks, (B, D, H/p, W/p) each.

    Args:
        name: timm model name, a pretrained tag may follow a dot (vit_base_patch16_224.mae).
        pretrained: load timm's pretrained weights by name (from the hub, or its cache).
        weights: a local weights file instead (safetensors, or a plain torch state dict).
        out_indices: 0-based blocks whose outputs are returned, shallow to deep.
        model_kwargs: timm constructor overrides (img_size, patch_size, depth, embed_dim, num_heads,
            drop_path_rate, ...).
    """

    def __init__(
        self,
        name: str = MAE_VIT_B,
        pretrained: bool = False,
        weights: str | None = None,
        out_indices: tuple[int, ...] = (3, 5, 7, 11),
        model_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        import timm

        kwargs = {"num_classes": 0, "dynamic_img_size": True, **(model_kwargs or {})}
        use_hub = pretrained and weights is None
        try:
            self.vit = timm.create_model(name, pretrained=use_hub, **kwargs)
        except RuntimeError as error:  # timm: unknown model or bad kwargs
            raise OvsegUserError(f"cannot build timm ViT '{name}' with {kwargs}: {error}") from None
        except Exception as error:
            if use_hub and _is_download_error(error):
                raise _offline_error(name) from None
            raise
        if not hasattr(self.vit, "forward_intermediates") or not hasattr(self.vit, "blocks"):
            raise OvsegUserError(f"backbone '{name}' is not a timm VisionTransformer; pass a vit_* model.")
        depth = len(self.vit.blocks)
        self.out_indices = tuple(int(i) for i in out_indices)
        if not self.out_indices or any(not 0 <= i < depth for i in self.out_indices):
            raise OvsegUserError(
                f"out_indices {list(out_indices)} must be blocks 0..{depth - 1} of '{name}'."
            )
        self.embed_dim = int(self.vit.embed_dim)
        self.patch_size = int(self.vit.patch_embed.patch_size[0])
        if weights is not None:
            self.load_file(weights)

    def load_file(self, path: str) -> None:
        """Load a ViT state dict from ``path`` safely; every block and the patch embedding must fit."""
        from timm.models.vision_transformer import checkpoint_filter_fn

        from ovseg.safe_load import read_state_dict

        state = read_state_dict(
            path, wrappers=("state_dict", "model"), strip_prefixes=("module.", "encoder.")
        )
        state = {k: v for k, v in state.items() if not k.startswith(_DROPPED_KEYS)}
        try:
            state = checkpoint_filter_fn(state, self.vit)  # resamples pos_embed to this grid
            missing, unexpected = self.vit.load_state_dict(state, strict=False)
        except (RuntimeError, ValueError, KeyError) as error:
            first = str(error).splitlines()[0]
            raise OvsegUserError(
                f"'{path}' does not fit this ViT ({first}); is it the right model?"
            ) from None
        missing = [key for key in missing if not key.startswith(_OPTIONAL_KEYS)]
        unexpected = [key for key in unexpected if not key.startswith(_OPTIONAL_KEYS)]
        if missing or unexpected:
            raise OvsegUserError(
                f"'{path}' does not fit this ViT: missing {missing[:4]}, unexpected {unexpected[:4]}"
                f"{' ...' if len(missing) + len(unexpected) > 8 else ''}; pass weights of the same model."
            )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W), H and W multiples of the patch → [(B, D, H/p, W/p)] per chosen block."""
        return self.vit.forward_intermediates(
            images, indices=list(self.out_indices), norm=False, output_fmt="NCHW", intermediates_only=True
        )


def _is_download_error(error: BaseException) -> bool:
    """Whether ``error`` comes from fetching weights (network, hub, offline mode)."""
    if isinstance(error, OSError | ConnectionError | TimeoutError):
        return True
    module = type(error).__module__
    return module.startswith(("huggingface_hub", "requests", "urllib3", "urllib", "http"))
