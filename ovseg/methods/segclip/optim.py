"""The release's optimisation recipe: two learning rates, frozen embeddings, AdamW, warmup + cosine.

* CLIP's pretrained parts that are only fine-tuned — the first visual stage, the text tower and
  the logit scale — train at ``lr_clip`` (4e-6).
* The new parts — group module, reconstruction head — and CLIP's last blocks, ln_post and proj
  train at ``lr_new`` (4e-3).
* Frozen: patch embedding, visual positional embedding, ln_pre, token embedding, text positional
  embedding (and the class token, which the release does not use).
* No weight decay on biases, norms, embeddings (incl. the centers and the mask token) and the
  logit scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ovseg.methods.segclip.model import SegCLIPModel

FROZEN_EMBEDDINGS = (
    "visual.conv1.",
    "visual.class_embedding",
    "visual.positional_embedding",
    "visual.ln_pre.",
    "text.token_embedding.",
    "text.positional_embedding",
)
CLIP_PARTS = ("visual.class_embedding", "visual.stage1.", "text.", "logit_scale.")
NO_DECAY_NAMES = ("embedding", "semantic_center", "mask_token")


def freeze_clip_embeddings(model: SegCLIPModel) -> None:
    """Stop gradients into CLIP's embeddings (the release's frozen set)."""
    for name, param in model.named_parameters():
        if name.startswith(FROZEN_EMBEDDINGS):
            param.requires_grad_(False)


def _no_decay(name: str, param: nn.Parameter) -> bool:
    return param.ndim < 2 or any(part in name for part in NO_DECAY_NAMES)


def parameter_groups(model: SegCLIPModel, lr_clip: float, lr_new: float, weight_decay: float) -> list[dict]:
    """AdamW groups ``{clip, new} × {decay, no decay}`` of the trainable parameters (empty ones dropped)."""
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    names: dict[tuple[str, bool], list[str]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = ("clip" if name.startswith(CLIP_PARTS) else "new", _no_decay(name, param))
        groups.setdefault(key, []).append(param)
        names.setdefault(key, []).append(name)
    out = []
    for (part, no_decay), params in sorted(groups.items()):
        out.append(
            {
                "params": params,
                "lr": lr_clip if part == "clip" else lr_new,
                "weight_decay": 0.0 if no_decay else weight_decay,
                "name": f"{part}{'_no_decay' if no_decay else ''}",
                "param_names": names[(part, no_decay)],
            }
        )
    return out


def warmup_cosine(total_steps: int, warmup_fraction: float = 0.15) -> Callable[[int], float]:
    """LambdaLR factor: linear warmup over ``warmup_fraction`` of the steps, then cosine to 0."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_optimizer(
    model: SegCLIPModel,
    lr_clip: float,
    lr_new: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
) -> torch.optim.AdamW:
    """AdamW over ``parameter_groups`` (names kept on the groups for inspection)."""
    groups = parameter_groups(model, lr_clip, lr_new, weight_decay)
    return torch.optim.AdamW(groups, lr=lr_new, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
