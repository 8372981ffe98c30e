"""Random numbers of a training step drawn from a seed of (run seed, batch number, process rank).

A method's random choices inside ``training_step`` (SegCLIP's Gumbel noise and reconstruction
masks, K-Means starts) come from the global generators. Their state after N steps depends on
everything else that drew from them: validation, data loader start-up, prefetching. So a resumed run
would draw different numbers from the uninterrupted one even with every checkpointed state
restored. Seeding the global generators at the start of every training batch from the run's seed,
the total batch index (restored from the checkpoint) and the process rank makes each step's draws
a function of where the step is, and a resumed run repeats the uninterrupted run's steps exactly.
Processes draw different numbers (different samples need different noise), as before.
"""

from __future__ import annotations

import os
import random

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


def step_seed(seed: int, batch_index: int, rank: int) -> int:
    """A 63-bit seed for one training batch of one process."""
    return int(np.random.SeedSequence([seed, batch_index, rank]).generate_state(2, np.uint64)[0] >> 1)


class StepSeed(Callback):
    """Seeds torch, numpy and ``random`` at every training batch (see the module docstring).

    Args:
        seed: the run's seed (None: the one ``seed_everything`` set, else 0).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int
    ) -> None:
        base = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        seed = step_seed(base, trainer.fit_loop.total_batch_idx, trainer.global_rank)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
