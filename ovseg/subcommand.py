"""What every plain-argparse ``ovseg`` subcommand (prepare, export, predict, oracle, pseudo-label)
shares: a positive-integer argument type and the exit-status contract — 0 on success and for
``--help``, 2 for a usage error (printed by argparse) or an ``OvsegUserError`` (printed as
``PROG: error: ...``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ovseg.errors import OvsegUserError


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_or_status(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status argparse ended with (0 for --help, 2 for misuse)."""
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exit_info:  # --help, or a usage error argparse already printed
        code = exit_info.code
        return 0 if code is None else code if isinstance(code, int) else 2


def user_error_status(prog: str, error: OvsegUserError) -> int:
    """Print a user error the way argparse prints usage errors; the exit status 2."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2


def run_subcommand(
    prog: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    action: Callable[[argparse.Namespace], object],
) -> int:
    """Parse ``argv`` and run ``action`` on the arguments; returns the exit status."""
    args = parse_or_status(parser, argv)
    if isinstance(args, int):
        return args
    try:
        action(args)
    except OvsegUserError as error:
        return user_error_status(prog, error)
    return 0
