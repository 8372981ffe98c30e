"""Opening weights files from elsewhere without running their code: the one reader of foreign files.

CLIP and DINO files, the released SegCLIP checkpoint, and any state dict or exported model given to
``--ckpt`` come through here:

- ``.safetensors``: a JSON header plus raw tensors (the safetensors library); nothing to execute.
- TorchScript archives (OpenAI's CLIP ``.pt``): tensors only, by ``ovseg.torchscript_tensors``; the
  archive's TorchScript is never compiled or run (``torch.jit.load`` would run its ``__setstate__``).
- anything else: ``torch.load(weights_only=True, map_location="cpu")``, which rebuilds tensors and
  plain containers (dict, list, str, numbers) and nothing else.

A pickle that names any other Python object — a class or a function, which is all a ``__reduce__``
exploit needs — is refused with ``UnsafeWeightsFileError`` before that object is touched; the message
says how to convert a file one trusts. ovseg's own Lightning checkpoints hold only such plain data, so
they load here as well.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from ovseg.errors import OvsegUserError
from ovseg.torchscript_tensors import is_torchscript_archive, read_torchscript_tensors


class UnsafeWeightsFileError(OvsegUserError):
    """A weights file that could only be opened by running code it names."""


def _conversion_help(path: Path) -> str:
    target = path.with_suffix(".safetensors").name
    return (
        f"If you trust the file, convert it once where running it is acceptable: "
        f"ovseg export --ckpt {path} --out {target} --trust-pickle (or load it there with "
        f"torch.load(weights_only=False) and save its state_dict with safetensors.torch.save_file), "
        f"then pass {target} instead."
    )


def _refusal(path: Path, error: BaseException) -> UnsafeWeightsFileError:
    named = re.search(r"GLOBAL ([\w.]+)", str(error))
    what = f"the Python object {named.group(1)}" if named else "pickle instructions beyond plain data"
    return UnsafeWeightsFileError(
        f"refusing to open '{path}': it is a pickle that needs {what}, and unpickling it could run "
        f"arbitrary code on this machine. ovseg only opens safetensors, plain torch.save'd tensors and "
        f"containers, and TorchScript archives' tensors. {_conversion_help(path)}"
    )


def load_weights_object(path: str | os.PathLike, trust_pickle: bool = False) -> object:
    """What a weights file holds (usually a dict of tensors, maybe nested), read without running code.

    Args:
        path: a ``.safetensors`` file, a TorchScript archive, or a ``torch.save`` file.
        trust_pickle: unpickle without restrictions (runs whatever the file names): only for a file
            from a trusted source, to convert it once (``ovseg export --trust-pickle``).

    Raises:
        OvsegUserError: no such file, or not a weights file at all.
        UnsafeWeightsFileError: the file needs arbitrary unpickling (and ``trust_pickle`` is off).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise OvsegUserError(f"weights file '{path}' does not exist; check the path.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as error:  # a truncated or foreign file
            raise OvsegUserError(
                f"cannot read '{path}' as safetensors ({type(error).__name__}: {error}); "
                "the file may be truncated: copy or export it again."
            ) from None
    if is_torchscript_archive(path):
        try:
            return read_torchscript_tensors(path)
        except pickle.UnpicklingError as error:
            raise _refusal(path, error) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as error:
        raise _refusal(path, error) from None
    except Exception as error:  # not a torch file, truncated, ...
        raise OvsegUserError(
            f"cannot read '{path}' as a weights file ({type(error).__name__}: {error}); ovseg reads "
            "safetensors, torch.save'd state dicts, Lightning checkpoints and TorchScript archives."
        ) from None


def read_state_dict(
    path: str | os.PathLike,
    wrappers: Sequence[str] = ("state_dict", "model"),
    strip_prefixes: Sequence[str] = ("module.",),
) -> dict[str, torch.Tensor]:
    """A flat ``{name: tensor}`` state dict from a weights file, read by ``load_weights_object``.

    Args:
        path: the weights file.
        wrappers: keys whose dict value is the state dict (``{"state_dict": ...}`` of a Lightning
            checkpoint, ``{"model": ...}``); tried in order, repeatedly.
        strip_prefixes: key prefixes removed, in order (DDP's ``module.``).
    """
    state = load_weights_object(path)
    unwrapped = True
    while unwrapped and isinstance(state, dict):
        unwrapped = False
        for wrapper in wrappers:
            if isinstance(state.get(wrapper), dict):
                state, unwrapped = state[wrapper], True
                break
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise OvsegUserError(
            f"'{path}' does not hold a flat state_dict of tensors (looked inside {', '.join(wrappers)})."
        )
    cleaned = {}
    for key, value in state.items():
        for prefix in strip_prefixes:
            key = key.removeprefix(prefix)
        cleaned[key] = value
    return cleaned
