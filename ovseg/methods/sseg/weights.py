"""Loading S-Seg weights from a file: an ``SSeg`` state dict or a Lightning checkpoint.

The S-Seg authors have released no weights, so the only foreign layout is ovseg's own: a flat
``state_dict`` of ``SSeg`` (keys ``model.*``, ``text_encoder.*``, ``logit_scale.*``), possibly
wrapped in a Lightning checkpoint's "state_dict" or prefixed ``module.`` by DDP. Files are read with
``weights_only=True`` (or as safetensors); nothing is unpickled.
"""

from __future__ import annotations

from torch import nn

from ovseg.errors import OvsegUserError
from ovseg.nn.dino import load_state_dict_file

EXPECTED_PREFIXES = ("model.", "text_encoder.", "logit_scale.")


def convert_sseg_state_dict(state: dict) -> dict:
    """Keep the S-Seg entries of a state dict (drops optimiser-free extras such as DINO's)."""
    return {key: value for key, value in state.items() if key.startswith(EXPECTED_PREFIXES)}


def load_sseg_weights(module: nn.Module, path: str) -> None:
    """Load ``path`` into ``module`` (an ``SSeg``); every model, text and temperature entry must match."""
    state = convert_sseg_state_dict(load_state_dict_file(path))
    if not state:
        raise OvsegUserError(
            f"'{path}' holds no S-Seg weights (no keys starting with {', '.join(EXPECTED_PREFIXES)}); "
            "pass a file saved from ovseg's SSeg (its state_dict or a Lightning .ckpt)."
        )
    own = module.state_dict()
    missing = [key for key in own if key.startswith(EXPECTED_PREFIXES) and key not in state]
    unexpected = [key for key in state if key not in own]
    resized = [key for key in state if key in own and state[key].shape != own[key].shape]
    if missing or unexpected or resized:
        raise OvsegUserError(
            f"'{path}' does not fit this S-Seg configuration: {len(missing)} missing keys "
            f"({', '.join(missing[:4])}), {len(unexpected)} unexpected ({', '.join(unexpected[:4])}), "
            f"{len(resized)} of another shape ({', '.join(resized[:4])}). Build the model with the sizes "
            "the weights were trained with (backbone, num_queries, ...)."
        )
    module.load_state_dict(state, strict=False)
