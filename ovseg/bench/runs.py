"""Running one method's part of the benchmark in a process of its own (own peak memory, own RNG)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


class MethodRunError(RuntimeError):
    """A method's process failed; its own output (above in the terminal) says why."""


def rerun_command(module: str, args: Sequence[str]) -> str:
    """The command line that runs one benchmark step alone, for error messages."""
    return f"{sys.executable} -m {module} {' '.join(map(str, args))}"


def run_module(module: str, args: Sequence[str], out: Path, what: str) -> dict:
    """``python -m module *args``, which must leave ``out/result.json``; returns that result."""
    print(f"bench: {what} …", flush=True)
    finished = subprocess.run([sys.executable, "-m", module, *args], check=False)
    if finished.returncode != 0:
        raise MethodRunError(
            f"{what} failed (exit status {finished.returncode}); its output above says why. "
            f"To re-run it alone: {rerun_command(module, args)}"
        )
    return json.loads((out / "result.json").read_text())
