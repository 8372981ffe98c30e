"""The recipe a short-named model runs with when no ``-c`` is given: its tiny CPU recipe.

The methods' constructors keep the papers' defaults (CLIP ViT-B/16 with OpenAI weights, Swin-S and
DINO), which need downloads and an accelerator. So that ``ovseg fit --model segclip`` works out of
the box, ``-c experiments/NAME/tiny_cpu.yaml`` is put right after the subcommand (the user's own
flags come after it and still win) when all of these hold:

- the subcommand is fit, validate, test or predict, and ``--model`` is a short name (segclip, sseg);
- no ``-c``/``--config`` is given (an explicit config always wins);
- the data is the built-in synthetic data: no ``--data``, ``--data synthetic`` or its class path,
  and no ``--data.sources`` of its own (a real dataset such as ``--data voc`` gets no recipe);
- no weights made for the paper's architecture are given: ``--model.weights`` (or ``--ckpt`` with a
  file that is not a Lightning checkpoint), ``--model.clip_pretrained``, ``--model.backbone_weights``;
- for validate/test/predict, no Lightning checkpoint (its saved hyperparameters rebuild the model).
  ``fit`` resuming from a Lightning checkpoint keeps the recipe: the run goes on with the same data
  and trainer settings.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Sequence
from pathlib import Path

import ovseg
from ovseg.errors import OvsegUserError

RECIPE_SUBCOMMANDS = ("fit", "validate", "test", "predict")
RECIPE_FILE = "tiny_cpu.yaml"
SYNTHETIC_DATA = ("synthetic", "ovseg.data.image_text.ImageTextDataModule")
_CONFIG_FLAGS = ("-c", "--config")
_SOURCES_FLAGS = ("--data.sources", "--data.init_args.sources")
_WEIGHTS_ARGS = ("weights", "clip_pretrained", "backbone_weights")  # model arguments naming weights
_WEIGHTS_FLAGS = tuple(f"--model.{prefix}{arg}" for prefix in ("", "init_args.") for arg in _WEIGHTS_ARGS)
_NO_VALUE = ("", "null", "none", "None")
_CHECKPOINT_FLAGS = ("--ckpt", "--ckpt_path")
_HELP_FLAGS = ("-h", "--help")


def experiments_dir() -> Path:
    """The repository's ``experiments/`` folder, next to the ``ovseg`` package."""
    return Path(ovseg.__file__).resolve().parents[1] / "experiments"


def _option_values(argv: Sequence[str]) -> dict[str, list[str]]:
    """Every ``--flag value`` / ``--flag=value`` of ``argv``, by flag (a flag without value: "")."""
    values: dict[str, list[str]] = {}
    for index, token in enumerate(argv):
        if not token.startswith("-"):
            continue
        flag, equals, inline = token.partition("=")
        if equals:
            value = inline
        elif index + 1 < len(argv) and not argv[index + 1].startswith("-"):
            value = argv[index + 1]
        else:
            value = ""
        values.setdefault(flag, []).append(value)
    return values


def recipe_for(
    argv: Sequence[str], model_aliases: Collection[str], lightning_checkpoints: Collection[str]
) -> Path | None:
    """The tiny recipe ``argv`` should run with, or None when the rules above add none.

    Args:
        argv: the command line after ``ovseg``, before short names are expanded.
        model_aliases: the short model names.
        lightning_checkpoints: the names ``--ckpt`` takes as Lightning checkpoints (besides *.ckpt).
    """
    if not argv or argv[0] not in RECIPE_SUBCOMMANDS:
        return None
    subcommand = argv[0]
    options = _option_values(argv[1:])
    models = options.get("--model", [])
    if len(models) != 1 or models[0] not in model_aliases:
        return None
    if any(flag in options for flag in (*_CONFIG_FLAGS, *_SOURCES_FLAGS, *_HELP_FLAGS)):
        return None
    if any(value not in _NO_VALUE for flag in _WEIGHTS_FLAGS for value in options.get(flag, [])):
        return None
    if any(value not in SYNTHETIC_DATA for value in options.get("--data", [])):
        return None
    for flag in _CHECKPOINT_FLAGS:
        for value in options.get(flag, []):
            lightning = flag == "--ckpt_path" or value in lightning_checkpoints or value.endswith(".ckpt")
            if not lightning or subcommand != "fit":
                return None
    return _existing_recipe(models[0])


def _existing_recipe(model: str) -> Path:
    recipe = experiments_dir() / model / RECIPE_FILE
    if not recipe.is_file():
        raise OvsegUserError(
            f"--model {model} without -c runs the tiny CPU recipe experiments/{model}/{RECIPE_FILE}, "
            f"but there is no such file at {recipe} (is ovseg installed without its experiments/ "
            f"folder?). Pass a config: -c path/to/recipe.yaml."
        )
    return recipe


def with_default_recipe(
    argv: Sequence[str], model_aliases: Collection[str], lightning_checkpoints: Collection[str]
) -> list[str]:
    """``argv`` with ``-c RECIPE`` after the subcommand when ``recipe_for`` finds one (said on stderr)."""
    argv = list(argv)
    recipe = recipe_for(argv, model_aliases, lightning_checkpoints)
    if recipe is None:
        return argv
    model = _option_values(argv[1:])["--model"][0]
    print(
        f"ovseg: no -c given for --model {model} on the built-in synthetic data: using the tiny CPU "
        f"recipe {recipe} (the constructor defaults are the paper's; pass -c FILE to choose another).",
        file=sys.stderr,
    )
    return [argv[0], "-c", str(recipe), *argv[1:]]
