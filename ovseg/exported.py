"""The file ``ovseg export`` writes: a model's state dict as safetensors, its hyper-parameters as JSON.

The safetensors header's ``__metadata__`` (string → string) holds:
    ``ovseg_export``      the format version ("1");
    ``class_path``        the LightningModule class (``ovseg.methods.sseg.SSeg``), "" if unknown;
    ``hyper_parameters``  JSON of its constructor arguments, as saved in the checkpoint;
    ``source``            the checkpoint it came from.
``ovseg test --ckpt FILE.safetensors`` turns them back into a ``--model={"class_path": ...,
"init_args": {...}}`` argument (``model_arguments``), so the model is rebuilt at the trained sizes
before the weights are loaded, as Lightning does for a ``.ckpt`` (and, as there, they win over the
command line's values for the same keys). Only the JSON header is read here: no torch, no tensors.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from ovseg.errors import OvsegUserError

EXPORT_FORMAT = "1"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit

# Constructor arguments that load weights while the model is built (a pretrained backbone, CLIP, a
# weights file): the exported state dict already holds the trained values, so they are switched off.
SUPERSEDED_BY_EXPORT: dict[str, object] = {
    "weights": None,
    "clip_pretrained": None,
    "backbone_pretrained": False,
    "backbone_weights": None,
}


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's JSON header ({} when it has none)."""
    path = Path(path)
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise OvsegUserError(f"'{path}' is too short to be a safetensors file; export it again.")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER_BYTES:
            raise OvsegUserError(f"'{path}' has a {length}-byte header: not a safetensors file.")
        try:
            header = json.loads(handle.read(length))
        except ValueError:
            raise OvsegUserError(f"'{path}' has no readable safetensors header; export it again.") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return dict(metadata) if isinstance(metadata, dict) else {}


def export_metadata(class_path: str | None, hyper_parameters: dict, source: str) -> dict[str, str]:
    """The ``__metadata__`` of an export; hyper-parameters that load weights at build time are reset."""
    hparams = {key: value for key, value in hyper_parameters.items() if not key.startswith("_")}
    hparams.update({key: value for key, value in SUPERSEDED_BY_EXPORT.items() if key in hparams})
    for key, value in hparams.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise OvsegUserError(
                f"hyper-parameter '{key}' ({type(value).__name__}) cannot be written as JSON; save the "
                "model with plain values (numbers, strings, lists) for that argument."
            ) from None
    return {
        "ovseg_export": EXPORT_FORMAT,
        "class_path": class_path or "",
        "hyper_parameters": json.dumps(hparams, sort_keys=True),
        "source": source,
    }


def model_arguments(path: str | os.PathLike) -> list[str]:
    """The ``--model`` argument rebuilding an exported model ([] for other safetensors files)."""
    metadata = read_safetensors_metadata(path)
    if metadata.get("ovseg_export") is None:
        return []
    if metadata["ovseg_export"] != EXPORT_FORMAT:
        raise OvsegUserError(
            f"'{path}' is an ovseg export of format {metadata['ovseg_export']}; this ovseg reads format "
            f"{EXPORT_FORMAT}. Export the checkpoint again with this version."
        )
    hparams = json.loads(metadata.get("hyper_parameters", "{}"))
    hparams.pop("weights", None)  # the caller passes the exported file itself as the weights
    if metadata.get("class_path"):  # the same class as a --model given before keeps its other arguments
        return ["--model=" + json.dumps({"class_path": metadata["class_path"], "init_args": hparams})]
    return ["--model.init_args=" + json.dumps(hparams)]
