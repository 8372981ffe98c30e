"""Trainer callbacks for long runs: checkpoints, interruption, numerical faults, reproducible steps.

``ovseg fit`` uses all of them (``ovseg.lightning_cli``):

* ``checkpointing.RunCheckpoint``: ``last.ckpt`` every N steps, at epoch ends and at the end, found
  again by ``--ckpt_path last``; written atomically by ``atomic_io.AtomicCheckpointIO``.
* ``sigterm.CheckpointOnSigterm``: SIGTERM saves ``last.ckpt`` before the process exits (status 143).
* ``nonfinite.NonFiniteGuard``: a nan/inf loss term or gradient stops training, naming term and step.
* ``grad_norm.GradNormLogger``: ``train/grad_norm`` at every optimizer step.
* ``step_seed.StepSeed``: each training step's random numbers depend only on its position, so a
  resumed run repeats the uninterrupted one.

The data position (which samples of the epoch were trained on) is saved by the training data
loader itself: ``ovseg.data.resumable_loader``.
"""

from __future__ import annotations

from ovseg.callbacks.atomic_io import AtomicCheckpointIO, save_atomically
from ovseg.callbacks.checkpointing import DEFAULT_EVERY_N_TRAIN_STEPS, RunCheckpoint
from ovseg.callbacks.grad_norm import GradNormLogger, total_grad_norm
from ovseg.callbacks.nonfinite import NonFiniteGuard, NonFiniteLossError
from ovseg.callbacks.sigterm import SIGTERM_EXIT_STATUS, CheckpointOnSigterm
from ovseg.callbacks.step_seed import StepSeed

__all__ = [
    "DEFAULT_EVERY_N_TRAIN_STEPS",
    "SIGTERM_EXIT_STATUS",
    "AtomicCheckpointIO",
    "CheckpointOnSigterm",
    "GradNormLogger",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "RunCheckpoint",
    "StepSeed",
    "save_atomically",
    "total_grad_norm",
]
