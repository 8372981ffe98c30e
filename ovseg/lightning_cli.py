"""The LightningCLI behind ``ovseg``: protocol flag, data → model links, run directory, rich bars.

Imported only after the short names are expanded (``ovseg.cli``), so a misspelt name fails fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal

from jsonargparse import DefaultHelpFormatter
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

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


class OvsegCLI(LightningCLI):
    """LightningCLI with ``--protocol`` and the data module's benchmark passed to the model."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--protocol",
            type=ProtocolName,
            default=DEFAULT_PROTOCOL,
            help=f"Evaluation protocol preset: {', '.join(PROTOCOLS)}.",
        )
        parser.set_defaults({"data": {"class_path": DEFAULT_DATA}})
        parser.link_arguments("protocol", "model.init_args.protocol")
        parser.link_arguments("data.spec", "model.init_args.dataset", apply_on="instantiate")

    def instantiate_classes(self) -> None:
        """Build the objects, then let the data module check its files before any run starts."""
        super().instantiate_classes()
        check_data = getattr(self.datamodule, "check_data", None)
        if callable(check_data):
            check_data()


def run_cli(argv: Sequence[str], alias_help: str, run: bool = True) -> OvsegCLI:
    """Build the CLI on already-expanded arguments (given to LightningCLI as the process's argv).

    With ``run=False`` no subcommand is taken: ``argv`` is a configuration (``-c recipe.yaml`` and
    overrides) and the returned CLI holds the instantiated ``model``, ``datamodule`` and ``trainer``.
    """
    common = {"epilog": alias_help, "formatter_class": _RawEpilogFormatter}
    parser_kwargs = {"description": _DESCRIPTION, **common}
    if run:
        for name, description in _SUBCOMMAND_DESCRIPTIONS.items():
            parser_kwargs[name] = {"description": description, **common}
    saved_argv = sys.argv
    sys.argv = [saved_argv[0] if saved_argv else "ovseg", *argv]
    try:
        return _build_cli(parser_kwargs, run)
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
            "callbacks": [RichProgressBar()],
        },
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        seed_everything_default=0,
        run=run,
    )
