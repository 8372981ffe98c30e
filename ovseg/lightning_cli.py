"""The LightningCLI behind ``ovseg``: protocol flag, data → model links, run directory, rich bars.

Imported only after the short names are expanded (``ovseg.cli``), so a misspelt name fails fast.
Long runs (``ovseg.callbacks``): ``last.ckpt`` every ``--checkpoint.every_n_train_steps`` steps,
found again by ``--ckpt_path last``; SIGTERM saves it and exits with status 143; a non-finite loss
stops the run naming the term and step; ``train/grad_norm`` is logged; every step is seeded by its
position, so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Literal

from jsonargparse import DefaultHelpFormatter
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ovseg.callbacks import (
    SIGTERM_EXIT_STATUS,
    CheckpointOnSigterm,
    GradNormLogger,
    NonFiniteGuard,
    RunCheckpoint,
    StepSeed,
)
from ovseg.evaluation.protocols import DEFAULT_PROTOCOL, PROTOCOLS
from ovseg.methods.base import OpenVocabSegmenter

DEFAULT_DATA = "ovseg.data.image_text.ImageTextDataModule"  # the built-in synthetic data
ProtocolName = Literal[tuple(PROTOCOLS)]  # type: ignore[valid-type]

_DESCRIPTION = "ovseg: train and evaluate open-vocabulary semantic segmenters under one mIoU protocol."
_SUBCOMMAND_DESCRIPTIONS = {
    "fit": "Train a method (add --data for its image-text pairs and validation benchmark).",
    "validate": "Evaluate a method on a benchmark's evaluation split.",
    "test": "Evaluate a method under the unified protocol and write a result JSON.",
    "predict": "Predict label maps for a benchmark's images.",
}


class _RawEpilogFormatter(DefaultHelpFormatter):
    """Keeps the alias table's line breaks in ``--help``."""

    def _fill_text(self, text, width, indent):
        return "".join(indent + line for line in text.splitlines(keepends=True))


class _OvsegArgumentParser(LightningArgumentParser):
    """Parse errors lead with the unknown option and skip the 60-line usage (``--help`` has it)."""

    def print_usage(self, file=None) -> None:
        prog = self.prog.replace(" [options]", "")
        (file or sys.stderr).write(f"usage: {prog} [-c CONFIG] [--KEY VALUE ...]\n")

    def error(self, message: str, ex: Exception | None = None):
        unknown = sorted(set(_UNKNOWN_KEY.findall(message)))
        if unknown and self.exit_on_error:  # the top-level parser, not one checking a class's options
            names = ", ".join(f"'{name}'" for name in unknown)
            message = f"unknown option {names}: misspelt, or not an option of that class.\n{message}"
        super().error(message, ex)


_UNKNOWN_KEY = re.compile(r"(?:Option|Key) '([^']+)' is not (?:accepted|expected)")


class OvsegCLI(LightningCLI):
    """LightningCLI with ``--protocol`` and the data module's benchmark passed to the model."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--protocol",
            type=ProtocolName,
            default=DEFAULT_PROTOCOL,
            help=f"Evaluation protocol preset: {', '.join(PROTOCOLS)}.",
        )
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.set_defaults({"data": {"class_path": DEFAULT_DATA}})
        parser.link_arguments("protocol", "model.init_args.protocol")
        parser.link_arguments("data.spec", "model.init_args.dataset", apply_on="instantiate")

    def instantiate_classes(self) -> None:
        """Build the objects, then let the data module check its files before any run starts."""
        super().instantiate_classes()
        check_data = getattr(self.datamodule, "check_data", None)
        if callable(check_data):
            check_data()

    def _instantiate_trainer(self, config: dict, callbacks: list[Callback]) -> Trainer:
        """``--trainer.enable_checkpointing false`` turns ``--checkpoint`` off and
        ``--trainer.enable_progress_bar false`` the rich bar, where Lightning would refuse both."""
        if config.get("enable_checkpointing") is False:
            callbacks = [cb for cb in callbacks if not isinstance(cb, ModelCheckpoint)]
        trainer = super()._instantiate_trainer({**config, "enable_progress_bar": True}, callbacks)
        if config.get("enable_progress_bar") is False:
            trainer.callbacks = [cb for cb in trainer.callbacks if not isinstance(cb, ProgressBar)]
        return trainer


def run_cli(argv: Sequence[str], alias_help: str, run: bool = True) -> OvsegCLI:
    """Build the CLI on already-expanded arguments (given to LightningCLI as the process's argv).

    With ``run=False`` no subcommand is taken: ``argv`` is a configuration (``-c recipe.yaml`` and
    overrides) and the returned CLI holds the instantiated ``model``, ``datamodule`` and ``trainer``.
    """
    # no abbreviations: a misspelt key is an error, not silently another key that starts like it
    common = {"epilog": alias_help, "formatter_class": _RawEpilogFormatter, "allow_abbrev": False}
    parser_kwargs = {"description": _DESCRIPTION, **common}
    if run:
        for name, description in _SUBCOMMAND_DESCRIPTIONS.items():
            parser_kwargs[name] = {"description": description, **common}
    saved_argv = sys.argv
    sys.argv = [saved_argv[0] if saved_argv else "ovseg", *argv]
    try:
        return _build_cli(parser_kwargs, run)
    except SIGTERMException:
        print("ovseg: stopped by SIGTERM (see the checkpoint saved above).", file=sys.stderr)
        raise SystemExit(SIGTERM_EXIT_STATUS) from None
    finally:
        sys.argv = saved_argv


def _build_cli(parser_kwargs: dict, run: bool) -> OvsegCLI:
    return OvsegCLI(
        model_class=OpenVocabSegmenter,
        subclass_mode_model=True,
        subclass_mode_data=True,
        parser_kwargs=parser_kwargs,
        trainer_defaults={
            "default_root_dir": "runs",
            "callbacks": [
                RichProgressBar(),
                CheckpointOnSigterm(),
                NonFiniteGuard(),
                GradNormLogger(),
                StepSeed(),
            ],
        },
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        parser_class=_OvsegArgumentParser,
        seed_everything_default=0,
        run=run,
    )
