"""The run's checkpoints: ``last.ckpt`` every N training steps, at every epoch end and at the end.

``ovseg fit`` adds ``RunCheckpoint`` as ``--checkpoint.*`` (for example
``--checkpoint.every_n_train_steps 500``). It is Lightning's ``ModelCheckpoint`` with three changes:

* by default it keeps ONE file, ``last.ckpt``, rewritten every ``every_n_train_steps`` steps, at
  the end of every training epoch and when training ends (``ModelCheckpoint`` with ``save_top_k=0``
  would skip the epoch-end and final saves once any step save happened). ``--checkpoint.monitor
  val/mIoU --checkpoint.mode max --checkpoint.save_top_k 2`` keeps the best ones as well;
* it writes through ``AtomicCheckpointIO`` (installed in ``setup`` when the strategy uses plain
  ``TorchCheckpointIO``): a kill while writing never leaves a truncated ``last.ckpt``;
* ``--ckpt_path last`` finds the newest ``last.ckpt`` of every earlier version of the run folder
  (``runs/lightning_logs/version_*/checkpoints``). Lightning looks only in the NEW version's
  folder, which a resumed run has just created empty, so it would warn and silently start over.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn

from ovseg.callbacks.atomic_io import AtomicCheckpointIO

log = logging.getLogger(__name__)

DEFAULT_EVERY_N_TRAIN_STEPS = 1000  # at ~1 s a step, at most ~15 minutes of work lost to a kill


class RunCheckpoint(ModelCheckpoint):
    """``last.ckpt`` on a step interval, at epoch ends and at the end of training; atomic writes.

    Args:
        every_n_train_steps: save ``last.ckpt`` every this many optimizer steps (0: only at epoch
            ends and at the end).
        dirpath: checkpoint folder (default: the logger's ``version_N/checkpoints``).
        filename: name pattern of top-k checkpoints (Lightning's default: ``epoch=E-step=S``).
        monitor: metric for top-k checkpoints (None: no top-k files unless ``save_top_k`` is -1).
        mode: "min" or "max" for ``monitor``.
        save_top_k: best checkpoints kept besides ``last.ckpt`` (0: none; -1: every save).
        save_weights_only: leave optimizer and loop states out (such a checkpoint cannot resume).
    """

    def __init__(
        self,
        every_n_train_steps: int = DEFAULT_EVERY_N_TRAIN_STEPS,
        dirpath: str | None = None,
        filename: str | None = None,
        monitor: str | None = None,
        mode: str = "min",
        save_top_k: int = 0,
        save_weights_only: bool = False,
    ) -> None:
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=monitor,
            mode=mode,
            save_top_k=save_top_k,
            save_last=True,
            save_weights_only=save_weights_only,
            every_n_train_steps=every_n_train_steps if every_n_train_steps > 0 else None,
            every_n_epochs=None if every_n_train_steps > 0 else 1,
        )

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()

    def write_last(self, trainer: L.Trainer) -> str | None:
        """Save ``last.ckpt`` now unless it already holds this step; returns its path (None: no save)."""
        fitting = trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking
        if not fitting or trainer.global_step == 0:
            return None
        if self._last_global_step_saved != trainer.global_step or not self.last_model_path:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        return self.last_model_path

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self.write_last(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.write_last(trainer)

    def _find_last_checkpoints(self, trainer: L.Trainer) -> set[str]:
        """Lightning's lookup for ``ckpt_path="last"``, widened to the run's earlier versions."""
        found = super()._find_last_checkpoints(trainer)
        if self.dirpath is None and trainer.loggers and trainer.loggers[0].save_dir is not None:
            logger = trainer.loggers[0]
            runs = Path(logger.save_dir) / str(logger.name)
            found |= {str(path) for path in runs.glob(f"*/checkpoints/{self.CHECKPOINT_NAME_LAST}.ckpt")}
        return found
