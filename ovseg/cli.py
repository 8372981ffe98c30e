"""The ``ovseg`` command: LightningCLI with lowercase names for models, datasets and protocols.

``ovseg test --model segclip --data voc --protocol groupvit`` is rewritten, before LightningCLI
parses it, into class paths and init arguments. Full class paths and config files still work.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from ovseg.default_recipe import with_default_recipe
from ovseg.errors import OvsegUserError
from ovseg.evaluation.protocols import DEFAULT_PROTOCOL, PROTOCOLS


@dataclass(frozen=True)
class Alias:
    """A lowercase name for a class plus the init arguments it implies."""

    class_path: str
    init_args: dict[str, str] = field(default_factory=dict)
    summary: str = ""


_SEG = "ovseg.data.segmentation.SegDataModule"

MODEL_ALIASES: dict[str, Alias] = {
    "segclip": Alias(
        "ovseg.methods.segclip.SegCLIP", summary="SegCLIP (ICML 2023): CLIP ViT + learnable centers"
    ),
    "sseg": Alias("ovseg.methods.sseg.SSeg", summary="S-Seg (CVPR 2025): MaskFormer on DINO pseudo-masks"),
    "selftrain": Alias(
        "ovseg.methods.selftrain.SelfTrain",
        summary="S-Seg+: ViT + UperNet trained on pseudo-labels (ovseg pseudo-label)",
    ),
}
# (without -c on the synthetic data, --model NAME runs experiments/NAME/tiny_cpu.yaml: see default_recipe)

DATA_ALIASES: dict[str, Alias] = {
    "synthetic": Alias(
        "ovseg.data.image_text.ImageTextDataModule",
        summary="built-in generated scenes: image-text pairs + a VOC-like benchmark (default)",
    ),
    "voc": Alias(_SEG, {"dataset": "voc"}, "PASCAL VOC 2012 val, background + 20"),
    "voc20": Alias(_SEG, {"dataset": "voc20"}, "PASCAL VOC 2012 val, 20 classes, no background"),
    "context": Alias(_SEG, {"dataset": "context"}, "PASCAL Context val, background + 59"),
    "context59": Alias(_SEG, {"dataset": "context59"}, "PASCAL Context val, 59 classes"),
    "coco": Alias(_SEG, {"dataset": "coco"}, "COCO-Object val2017, background + 80"),
    "coco-stuff": Alias(_SEG, {"dataset": "coco-stuff"}, "COCO-Stuff-164k val2017, 171 classes"),
    "ade20k": Alias(_SEG, {"dataset": "ade20k"}, "ADE20K val, 150 classes"),
    "cityscapes": Alias(_SEG, {"dataset": "cityscapes"}, "Cityscapes val, 19 classes"),
}

_GROUPS = {"--model": MODEL_ALIASES, "--data": DATA_ALIASES}


class AliasError(OvsegUserError, ValueError):
    """An unknown or unavailable short name on the command line."""


def alias_help() -> str:
    """The alias table, for ``--help``."""
    lines = ["short names:"]
    for flag, table in _GROUPS.items():
        lines.append(f"  {flag}:")
        lines.extend(f"    {name:<12} {alias.summary}" for name, alias in table.items())
    lines.append("  --protocol:")
    lines.extend(f"    {name}" + ("  (default)" if name == DEFAULT_PROTOCOL else "") for name in PROTOCOLS)
    lines.append("a full class path (my_pkg.MyModel) is accepted wherever a short name is.")
    lines.append("ovseg prepare NAME --data-root ROOT: convert raw downloads (coco-object, context).")
    lines.append("ovseg prepare NAME --source KIND --cache DIR: training caches (superpixels, pseudo-masks).")
    lines.append("ovseg export --ckpt RUN.ckpt --out MODEL.safetensors: weights anyone can load safely.")
    lines.append('ovseg predict --ckpt CKPT --labels "cat, dog" --out DIR IMAGES...: free-text labels.')
    lines.append("    (a selftrain checkpoint: some or all of its own classes; --labels may be left out)")
    lines.append("ovseg oracle --masks dino|pixel|felzenszwalb|segclip --data NAME: pseudo-mask upper bound.")
    lines.append(
        "ovseg pseudo-label --ckpt CKPT --data NAME --out DIR: label unlabeled train images (S-Seg+)."
    )
    return "\n".join(lines)


def _resolve(flag: str, value: str) -> list[str]:
    table = _GROUPS[flag]
    if value in table:
        alias = table[value]
        module = alias.class_path.rsplit(".", 1)[0]
        if importlib.util.find_spec(module) is None:
            raise AliasError(
                f"{flag} {value}: this version of ovseg does not include {alias.class_path} yet; "
                f"available now: {', '.join(n for n, a in table.items() if _available(a)) or 'none'}."
            )
        args = [flag, alias.class_path]
        for key, arg in alias.init_args.items():
            args.append(f"{flag}.{key}={arg}")
        return args
    looks_like_path = "." in value or "/" in value or value.startswith(("{", "["))
    if looks_like_path:
        return [flag, value]
    raise AliasError(f"unknown {flag} '{value}'. Valid names: {', '.join(table)} (or a full class path).")


def _available(alias: Alias) -> bool:
    return importlib.util.find_spec(alias.class_path.rsplit(".", 1)[0]) is not None


LIGHTNING_CHECKPOINT_NAMES = ("last", "best", "hpc", "registry")


def _checkpoint_args(value: str) -> list[str]:
    """``--ckpt``: a Lightning checkpoint resumes/evaluates a run; any other file is foreign weights
    (a released checkpoint or a state_dict) that the method's converter loads."""
    if value in LIGHTNING_CHECKPOINT_NAMES or value.endswith(".ckpt"):
        if value.endswith(".ckpt") and not os.path.isfile(value):
            raise AliasError(f"--ckpt {value}: no such file.")
        return [f"--ckpt_path={value}"]
    if not os.path.isfile(value):
        raise AliasError(f"--ckpt {value}: no such file (a Lightning .ckpt or a released weights file).")
    if value.endswith(".safetensors"):  # an `ovseg export` file carries the model's hyper-parameters
        from ovseg.exported import model_arguments

        return [*model_arguments(value), f"--model.weights={value}"]
    return [f"--model.weights={value}"]


def expand_aliases(argv: Sequence[str]) -> list[str]:
    """Rewrite ``--model NAME`` / ``--data NAME`` into class paths, check ``--protocol``, and turn
    ``--data-root DIR`` into the data module's ``data_root`` and ``--ckpt FILE`` into ``--ckpt_path``
    (Lightning checkpoints) or ``--model.weights`` (released weights), placed after any ``--model``
    and ``--data``. Without ``-c`` on the synthetic data, a short-named model first gets its tiny CPU
    recipe (``ovseg.default_recipe``)."""
    out: list[str] = []
    trailing: list[str] = []
    tokens = with_default_recipe(argv, MODEL_ALIASES, LIGHTNING_CHECKPOINT_NAMES)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        flag, _, inline = token.partition("=")
        if flag in (*_GROUPS, "--protocol", "--data-root", "--ckpt") and (inline or index + 1 < len(tokens)):
            value = inline if inline else tokens[index + 1]
            index += 1 if inline else 2
            if flag == "--data-root":
                trailing.append(f"--data.data_root={value}")
            elif flag == "--ckpt":
                trailing += _checkpoint_args(value)
            elif flag == "--protocol":
                if value not in PROTOCOLS:
                    raise AliasError(
                        f"unknown --protocol '{value}'. Valid protocols: {', '.join(PROTOCOLS)}."
                    )
                out += [flag, value]
            else:
                out += _resolve(flag, value)
            continue
        out.append(token)
        index += 1
    return out + trailing


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ovseg`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["prepare"]:
        from ovseg import prepare_cli

        raise SystemExit(prepare_cli.main(argv[1:]))
    if argv[:1] == ["export"]:
        from ovseg import export_cli

        raise SystemExit(export_cli.main(argv[1:]))
    if argv[:1] == ["predict"]:
        from ovseg.predict import cli as predict_cli

        if predict_cli.wants_this_command(argv[1:]):  # else LightningCLI's predict, below
            raise SystemExit(predict_cli.main(argv[1:]))
    if argv[:1] == ["oracle"]:
        from ovseg.oracle import cli as oracle_cli

        raise SystemExit(oracle_cli.main(argv[1:]))
    if argv[:1] == ["pseudo-label"]:
        from ovseg.pseudo_label import cli as pseudo_label_cli

        raise SystemExit(pseudo_label_cli.main(argv[1:]))
    try:
        argv = expand_aliases(argv)
        from ovseg.lightning_cli import run_cli

        run_cli(argv, alias_help())
    except Exception as error:
        user_error = _user_error_in_chain(error)
        if user_error is None:
            raise
        print(f"ovseg: error: {user_error}", file=sys.stderr)
        raise SystemExit(2) from None


def _user_error_in_chain(error: BaseException) -> OvsegUserError | None:
    """The OvsegUserError behind ``error``: itself, or one that jsonargparse/Lightning wrapped."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OvsegUserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
