"""The benchmark's processes, run side by side: each method is a chain of steps (``python -m ...``).

Chains run concurrently (up to a limit, the rest waiting in order), the steps of one chain in
order (S-Seg+ needs S-Seg's checkpoint); a waiting chain may also wait for a condition (the
ground-truth oracle needs S-Seg's record of its training scenes). Every process gets the same fixed
number of compute threads (``OMP_NUM_THREADS``), so a method's numerics, and therefore its figures,
do not depend on how many cores the machine has or on what else runs.
Each step's output goes to its own log file; the terminal gets one line when a step starts and one
when it ends. When a step fails, the others are stopped and the error names its log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ovseg.bench.runs import MethodRunError, rerun_command

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 60.0  # how often the terminal hears what is still running
LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class Step:
    """One process: ``python -m module *args``; its output goes to ``log``."""

    what: str  # shown in the terminal, e.g. "training S-Seg for 1000 steps"
    module: str
    args: Sequence[str]
    log: Path


@dataclass
class Chain:
    """Steps run one after another; ``plan_next`` may add steps once the previous one succeeded;
    a chain with ``ready`` waits in the queue until ``ready()`` is true."""

    name: str
    steps: list[Step]
    plan_next: Callable[[], list[Step]] | None = None
    ready: Callable[[], bool] | None = None

    def can_start(self) -> bool:
        return self.ready is None or self.ready()


def thread_environment(threads: int) -> dict[str, str]:
    """This process's environment with every BLAS/OpenMP pool fixed to ``threads``."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    return env


def _start(step: Step, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    step.log.parent.mkdir(parents=True, exist_ok=True)
    print(f"bench: {step.what} … (log: {step.log})", flush=True)
    with step.log.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", step.module, *step.args], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    return process, time.perf_counter()


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _stop(running: dict[str, tuple[subprocess.Popen, float, Step]]) -> None:
    for process, _, _ in running.values():
        process.terminate()
    for process, _, _ in running.values():
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def run_chains(
    chains: Sequence[Chain],
    threads: int,
    while_waiting: Callable[[], None] | None = None,
    max_running: int | None = None,
) -> None:
    """Run every chain to its end, concurrently; ``while_waiting`` runs in this process meanwhile.

    At most ``max_running`` chains run at once (all of them when None); the others wait, in order,
    and start as running chains end: the first waiting chain that can start (see ``Chain.ready``).

    Raises:
        MethodRunError: a step exited with an error (the other processes are stopped first), or
            chains still wait for a condition when nothing runs any more.
    """
    env = thread_environment(threads)
    limit = len(chains) if max_running is None else max(1, max_running)
    waiting = list(chains)
    by_name = {chain.name: chain for chain in chains}
    running: dict[str, tuple[subprocess.Popen, float, Step]] = {}

    def advance(chain: Chain) -> None:
        """Start the chain's next step (none left: the chain has ended)."""
        if not chain.steps and chain.plan_next is not None:
            chain.steps, chain.plan_next = chain.plan_next(), None
        if chain.steps:
            step = chain.steps.pop(0)
            running[chain.name] = (*_start(step, env), step)

    def fill() -> None:
        """Start waiting chains, in order, that can start, while there is room."""
        while len(running) < limit:
            startable = next((chain for chain in waiting if chain.can_start()), None)
            if startable is None:
                return
            waiting.remove(startable)
            advance(startable)

    try:
        fill()
        if while_waiting is not None:
            while_waiting()
        heartbeat = time.perf_counter()
        while running:
            time.sleep(POLL_SECONDS)
            if time.perf_counter() - heartbeat >= HEARTBEAT_SECONDS:
                heartbeat = time.perf_counter()
                still = ", ".join(f"{s.what} ({heartbeat - t:.0f} s)" for _, t, s in running.values())
                queued = f"; {len(waiting)} waiting" if waiting else ""
                print(f"bench: still running: {still}{queued}", flush=True)
            for name, (process, started, step) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[name]
                if process.returncode != 0:
                    raise MethodRunError(
                        f"{step.what} failed (exit status {process.returncode}). The end of its log "
                        f"{step.log}:\n{_tail(step.log)}\nTo re-run it alone: "
                        f"{rerun_command(step.module, step.args)}"
                    )
                print(f"bench: {step.what}: done in {time.perf_counter() - started:.0f} s", flush=True)
                advance(by_name[name])
            fill()
        if waiting:
            names = ", ".join(chain.name for chain in waiting)
            raise MethodRunError(
                f"nothing runs any more, but these chains wait for a condition never met: {names}."
            )
    finally:
        _stop(running)


def read_result(out: Path) -> dict:
    """The ``result.json`` a method's run left in ``out``."""
    return json.loads((out / "result.json").read_text())
