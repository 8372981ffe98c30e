"""``train/grad_norm``: the total gradient norm of every optimizer step, before clipping.

Next to the per-term losses each method logs (``train/loss_*``), this is the curve that shows a
run going wrong: a norm that climbs by orders of magnitude before the loss turns nan points at the
learning rate or a missing clip, a sudden spike at one step at the batch.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


def total_grad_norm(module: torch.nn.Module) -> torch.Tensor | None:
    """L2 norm over the gradients of all of ``module``'s parameters (None when none has one)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    return torch.nn.utils.get_total_norm(grads, norm_type=2.0)  # ()


class GradNormLogger(Callback):
    """Logs ``train/grad_norm`` (unclipped, after AMP unscaling) at every optimizer step."""

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        norm = total_grad_norm(pl_module)
        if norm is not None:
            pl_module.log(
                "train/grad_norm", norm.detach().float(), on_step=True, on_epoch=False, batch_size=1
            )
