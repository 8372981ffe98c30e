"""Weights into ``SegCLIPModel``: CLIP (OpenAI/open_clip layout) and the released ``segclip.bin``.

The released checkpoint is a flat state_dict whose keys start with ``clip.`` (REFERENCE.md §1) plus
``vis_mae_decoder.*``. CLIP weights are first put into that layout (visual blocks split at
``first_stage_layer`` into ``layers0``/``layers2``, as the release initialises itself), so one
prefix table maps both into ovseg's modules; ``to_released`` is its inverse.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ovseg.errors import OvsegUserError
from ovseg.methods.segclip.model import SegCLIPModel

log = logging.getLogger(__name__)

# (released prefix, ovseg prefix); the first match wins, so specific prefixes come first.
RELEASED_TO_OVSEG: tuple[tuple[str, str], ...] = (
    ("clip.visual.transformer.layers0.", "visual.stage1."),
    ("clip.visual.transformer.layers2.", "visual.stage3."),
    ("clip.visual.transformer.semantic_layer2.", "visual.group."),
    ("clip.visual.transformer.layers_mae2.", "reconstruction.blocks."),
    ("clip.visual.transformer.reconstruct_layer2.rec_proj_a.a_fc.", "reconstruction.restore.fc."),
    ("clip.visual.", "visual."),
    ("vis_mae_decoder.", "reconstruction.decoder."),
    ("clip.transformer.resblocks.", "text.resblocks."),
    ("clip.token_embedding.", "text.token_embedding."),
    ("clip.positional_embedding", "text.positional_embedding"),
    ("clip.ln_final.", "text.ln_final."),
    ("clip.text_projection", "text.text_projection"),
    ("clip.logit_scale", "logit_scale.log_scale"),
)


def _rename(key: str, table: tuple[tuple[str, str], ...]) -> str | None:
    for old, new in table:
        if key.startswith(old):
            return new + key[len(old) :]
    return None


def released_to_ovseg(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Released keys → ovseg keys; returns (mapped state, keys no rule knows)."""
    mapped, unknown = {}, []
    for key, value in state.items():
        new = _rename(key, RELEASED_TO_OVSEG)
        if new is None:
            unknown.append(key)
        else:
            mapped[new] = value
    return mapped, unknown


def to_released(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ovseg keys → the released layout (the inverse of ``released_to_ovseg``)."""
    inverse = tuple((new, old) for old, new in RELEASED_TO_OVSEG)
    out = {}
    for key, value in state.items():
        new = _rename(key, inverse)
        if new is None:
            raise KeyError(f"no released name for ovseg key '{key}'.")
        out[new] = value
    return out


def clip_to_released(state: dict[str, torch.Tensor], first_stage_layer: int) -> dict[str, torch.Tensor]:
    """A CLIP state_dict (OpenAI/open_clip layout) in the released layout, blocks split in two stages."""
    out = {}
    for key, value in state.items():
        if key.startswith("visual.transformer.resblocks."):
            index, rest = key.removeprefix("visual.transformer.resblocks.").split(".", 1)
            stage, index = (
                ("layers0", int(index))
                if int(index) < first_stage_layer
                else ("layers2", int(index) - first_stage_layer)
            )
            key = f"visual.transformer.{stage}.{index}.{rest}"
        out["clip." + key] = value
    return out


def _fit_shapes(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> list[str]:
    """Resize position embeddings in place to the model's; return keys whose shapes still differ."""
    pos = "visual.positional_embedding"
    if pos in state and pos in target and state[pos].shape != target[pos].shape:
        source = state[pos]
        side, new_side = round((source.shape[0] - 1) ** 0.5), round((target[pos].shape[0] - 1) ** 0.5)
        grid = source[1:].reshape(1, side, side, -1).permute(0, 3, 1, 2).float()  # (1, D, s, s)
        grid = F.interpolate(grid, size=(new_side, new_side), mode="bicubic", align_corners=False)
        state[pos] = torch.cat([source[:1], grid.flatten(2)[0].T.to(source.dtype)])  # (1+N, D)
    text_pos = "text.positional_embedding"
    if text_pos in state and text_pos in target and state[text_pos].shape[0] > target[text_pos].shape[0]:
        state[text_pos] = state[text_pos][: target[text_pos].shape[0]]  # a shorter context
    for key in ("logit_scale.log_scale",):
        if key in state and key in target:
            state[key] = state[key].reshape(target[key].shape)
    return [k for k in state if k in target and state[k].shape != target[k].shape]


def _load(
    model: SegCLIPModel, state: dict[str, torch.Tensor], source: str, optional: tuple[str, ...]
) -> None:
    target = model.state_dict()
    if model.reconstruction is None:  # a file's reconstruction head is of no use to this model
        state = {k: v for k, v in state.items() if not k.startswith("reconstruction.")}
    unexpected = sorted(set(state) - set(target))
    mismatched = _fit_shapes(state, target)
    if unexpected or mismatched:
        details = [f"unexpected keys {unexpected[:8]}"] if unexpected else []
        details += [
            f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}" for k in mismatched[:8]
        ]
        raise OvsegUserError(
            f"{source} does not fit this SegCLIP ({'; '.join(details)}). Set the model's size arguments "
            "(vision_width, vision_layers, patch_size, first_stage_layer, text_width, ...) to the file's."
        )
    missing = sorted(set(target) - set(state))
    required = [k for k in missing if not k.startswith(optional)]
    if required:
        raise OvsegUserError(f"{source} lacks {len(required)} weights the model needs, e.g. {required[:8]}.")
    if missing:
        log.info("%s: %d weights keep their initial values (%s...)", source, len(missing), missing[0])
    model.load_state_dict(state, strict=False)


def load_clip_weights(
    model: SegCLIPModel, state: dict[str, torch.Tensor], source: str = "CLIP weights"
) -> None:
    """CLIP into the two stages and the text tower; the group module and new parts stay as built."""
    first_stage = len(model.visual.stage1)
    mapped, unknown = released_to_ovseg(clip_to_released(state, first_stage))
    if unknown:
        raise OvsegUserError(f"{source}: keys outside CLIP's layout: {unknown[:8]}.")
    _load(model, mapped, source, optional=("visual.group.", "reconstruction.", "visual.class_embedding"))


# Parts of the release's code base that SegCLIP's published model does not use (text MAE).
UNUSED_RELEASED_PREFIXES = ("seq_mae_decoder.",)


def load_released_weights(
    model: SegCLIPModel, state: dict[str, torch.Tensor], source: str = "segclip.bin"
) -> None:
    """The released SegCLIP checkpoint; only a missing reconstruction head is tolerated."""
    unused = [key for key in state if key.startswith(UNUSED_RELEASED_PREFIXES)]
    if unused:
        log.info("%s: ignoring %d weights of the release's unused text reconstruction", source, len(unused))
    mapped, unknown = released_to_ovseg({k: v for k, v in state.items() if k not in unused})
    if unknown:
        raise OvsegUserError(
            f"{source} has keys outside the released SegCLIP layout (e.g. {unknown[:8]}); is it a SegCLIP "
            "checkpoint? A Lightning .ckpt goes to --ckpt_path instead."
        )
    _load(model, mapped, source, optional=("reconstruction.",))


OVSEG_PREFIX = "model."  # SegCLIP's own state dict: the LightningModule's ``model`` attribute


def load_segclip_weights(model: SegCLIPModel, state: dict[str, torch.Tensor], source: str) -> None:
    """A weights file for ``--model.weights``: the released layout (``clip.*``) or ovseg's own
    (``model.*``: ``ovseg export`` output or a Lightning checkpoint's state_dict)."""
    if state and all(key.startswith(OVSEG_PREFIX) for key in state):
        own = {key.removeprefix(OVSEG_PREFIX): value for key, value in state.items()}
        _load(model, own, source, optional=("reconstruction.",))
        return
    load_released_weights(model, state, source)
