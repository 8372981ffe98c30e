"""CLIP weights: read them from open_clip (a model name + pretrained tag) or from a local file.

The only module of ovseg that imports ``open_clip``. State dicts come back in the OpenAI/open_clip
key layout (``visual.conv1.weight``, ``visual.transformer.resblocks.N.*``, ``token_embedding.weight``,
``transformer.resblocks.N.*``, ``ln_final.*``, ``text_projection``, ``logit_scale``); a method maps
them into its own modules. Local files are read by ``ovseg.safe_load`` (safetensors,
``torch.load(weights_only=True)``, or the tensors of OpenAI's TorchScript archives read as data,
never through ``torch.jit.load``); a file that needs arbitrary unpickling is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ovseg.errors import OvsegUserError
from ovseg.safe_load import read_state_dict as read_weights_state_dict

_OPENAI_EXTRAS = ("input_resolution", "context_length", "vocab_size")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A flat state_dict from a weights file (safetensors, torch.save'd dict, TorchScript archive).

    A ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper is unwrapped and a DDP ``module.`` prefix
    removed; OpenAI's non-weight entries (input_resolution, context_length, vocab_size) are dropped.
    """
    state = read_weights_state_dict(path, wrappers=("state_dict", "model"), strip_prefixes=("module.",))
    return {key: value for key, value in state.items() if key not in _OPENAI_EXTRAS}


def clip_architecture(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """Sizes of a ViT CLIP from its state_dict (OpenAI/open_clip layout), in SegCLIP's argument names."""
    if "visual.conv1.weight" not in state or "visual.proj" not in state:
        raise OvsegUserError(
            "the CLIP weights are not a ViT CLIP in the OpenAI/open_clip layout (no visual.conv1.weight "
            "or visual.proj); SegCLIP needs a ViT image tower."
        )
    width, patch = state["visual.conv1.weight"].shape[0], state["visual.conv1.weight"].shape[-1]
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    vision_layers = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    text_width = state["ln_final.weight"].shape[0]
    return {
        "image_size": grid * patch,
        "patch_size": patch,
        "vision_width": width,
        "vision_layers": vision_layers,
        "embed_dim": state["visual.proj"].shape[1],
        "text_width": text_width,
        "text_layers": len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")}),
        "context_length": state["positional_embedding"].shape[0],
        "vocab_size": state["token_embedding.weight"].shape[0],
    }


def pretrained_quick_gelu(model_name: str, tag: str) -> bool | None:
    """Whether open_clip's pretrained ``tag`` of ``model_name`` was trained with QuickGELU."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    return bool(cfg.get("quick_gelu", False)) if cfg else None


def load_clip_state_dict(
    model_name: str = "ViT-B-16", pretrained: str = "openai", cache_dir: str | None = None
) -> dict[str, torch.Tensor]:
    """CLIP weights by open_clip name + pretrained tag, or from a local file given as ``pretrained``.

    Raises an ``OvsegUserError`` naming the file to fetch and where to put it when the weights
    cannot be downloaded (offline machines).
    """
    if Path(pretrained).expanduser().is_file():
        return read_state_dict(Path(pretrained).expanduser())
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise OvsegUserError(
            f"'{pretrained}' is neither a file nor an open_clip pretrained tag of '{model_name}' "
            f"(tags: {', '.join(tags) or 'none — check the model name'})."
        )
    try:
        path = open_clip.download_pretrained(cfg, cache_dir=cache_dir)
    except Exception as error:
        source = cfg.get("url") or f"https://huggingface.co/{cfg.get('hf_hub', '').rstrip('/')}"
        raise OvsegUserError(
            f"cannot fetch CLIP weights {model_name}/{pretrained} ({type(error).__name__}: {error}). "
            f"On a machine with internet, download {source} (OpenAI .pt archive or open_clip "
            "state_dict), copy the file here and pass its path instead of the tag: "
            "--model.clip_pretrained /path/to/ViT-B-16.pt (or pre-fill the Hugging Face cache, "
            "HF_HOME, on a connected machine)."
        ) from None
    if not path:
        raise OvsegUserError(f"open_clip has no download for {model_name}/{pretrained}.")
    return read_state_dict(path)


def create_open_clip(
    model_name: str = "ViT-B-16", pretrained: str | None = None, **model_kwargs
) -> nn.Module:
    """An open_clip model (random weights without ``pretrained``), for parity tests and benchmarks."""
    import open_clip

    return open_clip.create_model(model_name, pretrained=pretrained, **model_kwargs)


def open_clip_intermediates(model: nn.Module, images: torch.Tensor, blocks: int) -> torch.Tensor:
    """(B, N, D) patch tokens of an open_clip ViT after its first ``blocks`` blocks (class token cut)."""
    out = model.visual.forward_intermediates(
        images, indices=[blocks - 1], output_fmt="NLC", intermediates_only=True
    )
    return out["image_intermediates"][0]  # (B, N, D)
