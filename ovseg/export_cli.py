"""``ovseg export``: a checkpoint's model weights as one safetensors file that anyone can open safely.

``ovseg export --ckpt runs/.../last.ckpt --out model.safetensors`` writes the LightningModule's
state dict (no optimiser, no loop state) and its hyper-parameters (``ovseg.exported``), through a
temporary file and a rename, so an interrupted export never leaves a half-written file. The result
evaluates like the checkpoint: ``ovseg test --model sseg --ckpt model.safetensors --data voc``.

The checkpoint is read by ``ovseg.safe_load``; ``--trust-pickle`` lifts the pickle restrictions for
a file from a trusted source that needs them (an old checkpoint with pickled Python objects),
converting it once into a file that needs no trust.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ovseg.errors import OvsegUserError
from ovseg.subcommand import run_subcommand

PROG = "ovseg export"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write a checkpoint's model weights and hyper-parameters as one safetensors file.",
        epilog="Evaluate the result like the checkpoint: ovseg test --model NAME --ckpt OUT --data NAME",
    )
    parser.add_argument(
        "--ckpt",
        required=True,
        type=Path,
        metavar="PATH",
        help="a Lightning .ckpt, a run folder (its last.ckpt, else its newest .ckpt), or a weights file",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="output .safetensors (default: the checkpoint's name)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle without restrictions: ONLY for a file from a trusted source (it can run code)",
    )
    return parser


def find_checkpoint(path: Path) -> Path:
    """``path`` itself, or for a run folder its ``last.ckpt`` (else its newest ``.ckpt``)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise OvsegUserError(f"--ckpt {path}: no such file or folder.")
    newest_first = sorted(path.rglob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    last = [candidate for candidate in newest_first if candidate.name == "last.ckpt"]
    if not newest_first:
        raise OvsegUserError(
            f"--ckpt {path}: the folder holds no .ckpt file; pass a run folder with checkpoints/ in it."
        )
    return (last or newest_first)[0]


def _model_state(checkpoint: object, path: Path) -> tuple[dict, dict, str | None]:
    """(state dict, hyper-parameters, class path) of a Lightning checkpoint or a bare state dict."""
    import torch

    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        hparams = dict(checkpoint.get("hyper_parameters") or {})
        class_path = hparams.get("_class_path")
        state = checkpoint["state_dict"]
    else:
        state, hparams, class_path = checkpoint, {}, None
    if not isinstance(state, dict) or not state:
        raise OvsegUserError(f"'{path}' holds no state dict (neither a Lightning checkpoint nor weights).")
    if not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise OvsegUserError(f"'{path}': its state dict holds values that are not tensors.")
    return state, hparams, class_path


def export_checkpoint(source: Path, out: Path, trust_pickle: bool = False) -> dict[str, object]:
    """Write ``source``'s model weights and hyper-parameters to ``out`` atomically; return a summary."""
    from safetensors.torch import save_file

    from ovseg.exported import export_metadata
    from ovseg.safe_load import load_weights_object

    checkpoint = load_weights_object(source, trust_pickle=trust_pickle)
    state, hparams, class_path = _model_state(checkpoint, source)
    metadata = export_metadata(class_path, hparams, str(source))
    # safetensors stores each tensor once: copies break any sharing between entries (tied weights).
    tensors = {key: value.detach().cpu().clone().contiguous() for key, value in state.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(handle)
    try:
        save_file(tensors, tmp_name, metadata=metadata)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return {"tensors": len(tensors), "bytes": out.stat().st_size, "class_path": class_path}


def _alias_of(class_path: str | None) -> str:
    from ovseg.cli import MODEL_ALIASES

    names = [name for name, alias in MODEL_ALIASES.items() if alias.class_path == class_path]
    return names[0] if names else (class_path or "NAME")


def run(args: argparse.Namespace) -> None:
    source = find_checkpoint(args.ckpt)
    out = args.out or Path(source.name).with_suffix(".safetensors")
    if out.suffix != ".safetensors":
        raise OvsegUserError(f"--out {out}: the file name must end in .safetensors.")
    if out.exists() and not args.overwrite:
        raise OvsegUserError(f"--out {out} exists; pass --overwrite to replace it.")
    if source != args.ckpt:
        print(f"exporting {source}")
    summary = export_checkpoint(source, out, trust_pickle=args.trust_pickle)
    print(
        f"wrote {out}: {summary['tensors']} tensors, {summary['bytes'] / 1e6:.1f} MB"
        f"{' of ' + str(summary['class_path']) if summary['class_path'] else ''}.\n"
        f"evaluate it with: ovseg test --model {_alias_of(summary['class_path'])} --ckpt {out} --data NAME"
    )


def main(argv: Sequence[str]) -> int:
    """Run ``ovseg export`` on ``argv`` (the words after 'export'); returns the exit status."""
    return run_subcommand(PROG, build_parser(), argv, run)
