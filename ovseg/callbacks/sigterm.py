"""SIGTERM (what a cluster scheduler sends before it kills a job) ends training with a checkpoint.

What Lightning 2.6 does by itself: while ``fit`` runs, its SIGTERM handler only sets
``trainer.received_sigterm`` (and forwards the signal to processes it launched); at the end of the
current training batch (or evaluation batch) the loop raises ``SIGTERMException``, a
``SystemExit`` without a code, so the process exits with status 0 and saves NOTHING, unless a
``ModelCheckpoint(save_on_exception=True)`` happens to be configured (which would then also save on
every other exception, a non-finite loss included).

``CheckpointOnSigterm`` saves ``last.ckpt`` when, and only when, the exception is the SIGTERM one:
the batch in flight has finished, so the checkpoint is a consistent state (weights, optimizer,
loop counters and the data position) from which ``--ckpt_path last`` continues with the next
batch. ``ovseg`` then exits with status 143 (128 + SIGTERM), so a wrapper script or torchrun sees
an interrupted run rather than a finished one.
"""

from __future__ import annotations

import logging
import signal

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ovseg.callbacks.checkpointing import RunCheckpoint

log = logging.getLogger(__name__)

SIGTERM_EXIT_STATUS = 128 + signal.SIGTERM


class CheckpointOnSigterm(Callback):
    """On ``SIGTERMException``, write every ``RunCheckpoint``'s ``last.ckpt``."""

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        checkpoints = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, RunCheckpoint)]
        if not checkpoints:
            log.warning("SIGTERM: no RunCheckpoint is configured, so no checkpoint was saved.")
            return
        paths = [path for path in (cb.write_last(trainer) for cb in checkpoints) if path]
        if paths and trainer.is_global_zero:
            log.warning(
                "SIGTERM at step %d: saved %s; continue with the same command plus --ckpt_path last.",
                trainer.global_step,
                ", ".join(paths),
            )
        elif not paths:
            log.warning("SIGTERM before the first training step: nothing to save.")
