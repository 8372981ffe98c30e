"""Stop training at the first non-finite loss or gradient, before it reaches the weights.

``NonFiniteGuard`` checks the loss right before ``backward`` and the total gradient norm right
before the optimizer step. A nan or inf stops the run with ``NonFiniteLossError`` naming the
logged loss term(s) (``train/loss_*``), the step and the batch's sample keys. Nothing from the bad
step is saved: the optimizer has not stepped, and no checkpoint callback saves on this exception,
so ``last.ckpt`` still holds the last finite state. Under DDP every process stops at the same step
(the decision is reduced over processes, so none is left waiting in a collective).

Gradients are not checked under fp16 mixed precision: there the gradient scaler skips steps with
inf gradients by design.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from ovseg.callbacks.grad_norm import total_grad_norm

LOSS_PREFIX = "train/loss"
_KEYS_SHOWN = 4
_PARAMETERS_SHOWN = 5

_ADVICE = (
    "Nothing from this step was applied or saved: the latest last.ckpt is the last finite state. "
    "To find the cause, look at train/grad_norm and the train/loss_* curves up to this step; a "
    "climbing gradient norm calls for a lower learning rate or clipping (--trainer.gradient_clip_val "
    "1.0), a sudden jump points at the batch above."
)


class NonFiniteLossError(RuntimeError):
    """A loss term or gradient became nan or inf; the message names it and the step."""


def non_finite_terms(metrics: Mapping[str, object]) -> dict[str, float]:
    """The logged ``train/loss*`` values that are nan or inf, the individual terms first."""
    found = {}
    for name, value in metrics.items():
        if not name.startswith(LOSS_PREFIX) or not isinstance(value, torch.Tensor) or value.numel() != 1:
            continue
        number = float(value.detach().float().cpu())
        if not math.isfinite(number):
            found[name] = number
    return dict(sorted(found.items(), key=lambda item: item[0] == LOSS_PREFIX))


class NonFiniteGuard(Callback):
    """Raises ``NonFiniteLossError`` at the first nan/inf loss or gradient norm.

    Args:
        check_gradients: also check the total gradient norm before each optimizer step.
    """

    def __init__(self, check_gradients: bool = True) -> None:
        self.check_gradients = check_gradients
        self._keys: list[str] = []
        self._batch_idx = 0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int
    ) -> None:
        keys = batch.get("key") if isinstance(batch, Mapping) else None
        self._keys = list(keys) if isinstance(keys, (list, tuple)) else []
        self._batch_idx = batch_idx

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        local = not bool(torch.isfinite(loss.detach()).all())
        if not trainer.strategy.reduce_boolean_decision(local, all=False):
            return
        if not local:
            raise NonFiniteLossError(self._where(trainer, "the loss of another process is non-finite"))
        terms = non_finite_terms(trainer.callback_metrics) or {"training loss": float(loss.detach().float())}
        first, value = next(iter(terms.items()))
        also = ", ".join(f"{name} = {number}" for name, number in list(terms.items())[1:])
        raise NonFiniteLossError(
            self._where(trainer, f"{first} is {value}", f"also non-finite: {also}" if also else "")
        )

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self.check_gradients or getattr(trainer.precision_plugin, "scaler", None) is not None:
            return
        norm = total_grad_norm(pl_module)
        local = norm is not None and not bool(torch.isfinite(norm))
        if not trainer.strategy.reduce_boolean_decision(local, all=False):
            return
        if not local:
            raise NonFiniteLossError(self._where(trainer, "a gradient of another process is non-finite"))
        names = [
            name
            for name, parameter in pl_module.named_parameters()
            if parameter.grad is not None and not bool(torch.isfinite(parameter.grad).all())
        ]
        shown = ", ".join(names[:_PARAMETERS_SHOWN]) + (" ..." if len(names) > _PARAMETERS_SHOWN else "")
        raise NonFiniteLossError(
            self._where(
                trainer,
                f"the gradient norm is {float(norm)} (the loss was finite)",
                f"parameters with non-finite gradients ({len(names)}): {shown}",
            )
        )

    def _where(self, trainer: L.Trainer, what: str, detail: str = "") -> str:
        """``what`` at step N (epoch, batch and its keys); ``detail``. The advice."""
        keys = ", ".join(self._keys[:_KEYS_SHOWN]) + (" ..." if len(self._keys) > _KEYS_SHOWN else "")
        batch = f"batch {self._batch_idx}" + (f": {keys}" if keys else "")
        where = f"at step {trainer.global_step} (epoch {trainer.current_epoch}, {batch})"
        return f"{what} {where}" + (f"; {detail}" if detail else "") + f". {_ADVICE}"
