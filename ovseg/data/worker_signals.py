"""Dataloader workers leave a scheduler's SIGTERM to the main process, which checkpoints and exits.

A cluster scheduler (SLURM, for one) signals every process of the job, dataloader workers
included. A worker that dies of it makes torch raise in the main process at once ("DataLoader
worker ... is killed by signal"), in the middle of a training step, so the main process never
reaches the end of the batch where it would save ``last.ckpt``. So workers ignore SIGTERM while
the main process runs; Lightning shuts them down itself when training ends.

They must still obey the SIGTERM that Python's multiprocessing sends its daemonic children when
the main interpreter exits (and then waits for them): ignoring that one would hang the exit for
ever. torch's own worker handler tells the two apart by the sender's pid, which a Python handler
cannot see; here the main process sets a shared event at exit, before multiprocessing's exit
handler runs (``atexit`` handlers run last registered first), and a worker's SIGTERM handler ends
the worker quietly, as torch's does, once the event is set.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import os
import signal
from collections.abc import Callable

_main_exiting = None


def _main_exiting_event():
    """The process-wide event set when this (main) interpreter starts to exit."""
    global _main_exiting
    if _main_exiting is None:
        _main_exiting = multiprocessing.Event()
        atexit.register(_main_exiting.set)
    return _main_exiting


def _on_sigterm(main_exiting, signum: int, frame) -> None:
    if main_exiting.is_set():  # multiprocessing ending its workers at the main process's exit
        os._exit(0)  # as torch's own worker handler does for its parent's SIGTERM: a quiet end


def _shield_worker(main_exiting, worker_id: int) -> None:
    signal.signal(signal.SIGTERM, functools.partial(_on_sigterm, main_exiting))


def sigterm_shield() -> Callable[[int], None]:
    """A dataloader ``worker_init_fn`` that leaves SIGTERM to the main process (see above)."""
    return functools.partial(_shield_worker, _main_exiting_event())
