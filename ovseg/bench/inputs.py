"""Real mode's inputs, checked before any work: every dataset on disk, every checkpoint readable.

A checkpoint is either a Lightning ``.ckpt`` written by ovseg (the architecture comes back from its
hyperparameters, as in ``ovseg test --ckpt``) or a foreign weights file in the method's released
layout (``segclip.bin``, an S-Seg state dict), which ``ovseg test --ckpt`` loads into the method's
default architecture. Both are read with ``weights_only=True``: nothing is unpickled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ovseg.cli import MODEL_ALIASES
from ovseg.data.catalog import DatasetSpec, default_data_root
from ovseg.data.segmentation import SegDataModule
from ovseg.errors import OvsegUserError


class BenchInputError(OvsegUserError, ValueError):
    """A dataset or checkpoint that real mode cannot use; the message names the fix."""


def _segclip_foreign_problem(state: dict) -> str | None:
    from ovseg.methods.segclip.checkpoint import UNUSED_RELEASED_PREFIXES, released_to_ovseg

    kept = {key: value for key, value in state.items() if not key.startswith(UNUSED_RELEASED_PREFIXES)}
    mapped, unknown = released_to_ovseg(kept)
    if unknown or not mapped:
        return f"it is not in the released SegCLIP key layout (unknown keys such as {unknown[:4]})"
    return None


def _sseg_foreign_problem(state: dict) -> str | None:
    from ovseg.methods.sseg.weights import EXPECTED_PREFIXES, convert_sseg_state_dict

    if not convert_sseg_state_dict(state):
        return f"it holds no S-Seg weights (no keys starting with {', '.join(EXPECTED_PREFIXES)})"
    return None


# method alias → what makes a foreign (non-Lightning) weights file unusable for it, or None.
FOREIGN_CHECKS: dict[str, Callable[[dict], str | None]] = {
    "segclip": _segclip_foreign_problem,
    "sseg": _sseg_foreign_problem,
}


@dataclass(frozen=True)
class CheckpointInput:
    """One method's checkpoint: ``lightning`` (an ovseg .ckpt) or ``foreign`` weights."""

    method: str
    path: Path
    kind: str


def check_datasets(names: Sequence[str], data_root: str | None) -> list[DatasetSpec]:
    """The spec of every dataset, after finding its files; raises MissingDatasetError otherwise."""
    specs = []
    for name in names:
        module = SegDataModule(dataset=name, data_root=default_data_root(data_root))
        if module.spec.generated:
            raise BenchInputError(
                f"--data {name}: the generated benchmark is what synthetic mode trains and scores on; "
                "run bench.py without --data and checkpoints for it."
            )
        module.check_data()
        specs.append(module.spec)
    return specs


def check_checkpoint(method: str, path: str | Path) -> CheckpointInput:
    """Open ``path`` and check that ``method`` can load it, without building the model."""
    path = Path(path)
    flag = f"--{method}-ckpt"
    if not path.is_file():
        raise BenchInputError(
            f"{flag} {path}: no such file (a Lightning .ckpt from ovseg or the method's released weights)."
        )
    if path.suffix == ".ckpt":
        return CheckpointInput(method, path, _check_lightning(method, path, flag))
    from ovseg.nn.clip import read_state_dict

    try:
        state = read_state_dict(path)
    except OvsegUserError as error:
        raise BenchInputError(f"{flag} {path}: {error}") from None
    problem = FOREIGN_CHECKS[method](state)
    if problem:
        raise BenchInputError(
            f"{flag} {path}: {problem}. Pass {MODEL_ALIASES[method].class_path.rsplit('.', 1)[1]} "
            "weights, or a Lightning .ckpt trained with ovseg."
        )
    return CheckpointInput(method, path, "foreign")


def _check_lightning(method: str, path: Path, flag: str) -> str:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # a truncated file, or a pickle that is not plain weights
        raise BenchInputError(
            f"{flag} {path}: cannot read it as a Lightning checkpoint ({type(error).__name__}: {error}); "
            "is the file complete?"
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise BenchInputError(
            f"{flag} {path}: a .ckpt file without a 'state_dict' is not a Lightning checkpoint; rename "
            "plain weights to .pt/.bin/.safetensors so that they load as released weights."
        )
    expected = MODEL_ALIASES[method].class_path
    stored = (checkpoint.get("hyper_parameters") or {}).get("_class_path")
    if stored is not None and stored != expected:
        owner = next((alias for alias, a in MODEL_ALIASES.items() if a.class_path == stored), None)
        fix = f"pass it as --{owner}-ckpt" if owner else "pass a checkpoint of this method"
        raise BenchInputError(f"{flag} {path}: the checkpoint is of {stored}, not {expected}; {fix}.")
    return "lightning"
