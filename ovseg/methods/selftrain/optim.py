"""AdamW with layer-wise learning-rate decay, linear warm-up, then polynomial decay (MAE/BEiT fine-tuning).

Layer-wise decay (BEiT §3, MAE's segmentation fine-tuning): the embeddings are layer 0, ViT block i
is layer i + 1, everything after the blocks (final norm, neck, heads) is layer L + 1; layer l's
learning rate is lr · decay^(L + 1 − l). ``decay = 1`` gives every parameter the same rate. No weight
decay on biases, norms, the position embedding and the class token.
"""

from __future__ import annotations

import torch
from torch import nn

_NO_DECAY_NAMES = ("pos_embed", "cls_token", "reg_token", "dist_token")
_EMBEDDING_NAMES = ("cls_token", "reg_token", "dist_token", "pos_embed", "patch_embed")


def layer_id(name: str, num_layers: int, prefix: str) -> int:
    """Layer of parameter ``name``: 0 embeddings, i + 1 ViT block i, ``num_layers + 1`` the rest."""
    if not name.startswith(prefix):
        return num_layers + 1
    local = name[len(prefix) :]
    if local.startswith(_EMBEDDING_NAMES):
        return 0
    if local.startswith("blocks."):
        return int(local.split(".")[1]) + 1
    return num_layers + 1


def param_groups(
    module: nn.Module, weight_decay: float, layer_decay: float, num_layers: int, prefix: str
) -> list[dict]:
    """AdamW groups of ``module``'s trainable parameters, each with its ``lr_scale``.

    Args:
        prefix: name prefix of the ViT's parameters inside ``module`` ("model.backbone.vit.").
    """
    groups: dict[tuple[int, bool], dict] = {}
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        decays = parameter.ndim >= 2 and not name.split(".")[-1].startswith(_NO_DECAY_NAMES)
        layer = layer_id(name, num_layers, prefix)
        group = groups.setdefault(
            (layer, decays),
            {
                "params": [],
                "weight_decay": weight_decay if decays else 0.0,
                "lr_scale": layer_decay ** (num_layers + 1 - layer),
            },
        )
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def warmup_poly(step: int, warmup_steps: int, total_steps: int, power: float = 1.0) -> float:
    """Learning-rate factor: linear warm-up over ``warmup_steps``, then (1 − progress)^power to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return max(0.0, 1.0 - min(progress, 1.0)) ** power


def build_optimizer(
    module: nn.Module,
    lr: float,
    weight_decay: float,
    layer_decay: float,
    num_layers: int,
    prefix: str,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.AdamW:
    groups = param_groups(module, weight_decay, layer_decay, num_layers, prefix)
    for group in groups:
        group["lr"] = lr * group["lr_scale"]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)
