"""A nan stops ``ovseg fit`` at its step, naming the loss term, and nothing from that step is saved.

Faults are injected into real short SegCLIP runs by test callbacks: a parameter that only the
reconstruction loss reads is set to nan (the loss turns nan), or a gradient hook makes one
parameter's gradient nan while the loss stays finite.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ovseg.callbacks import NonFiniteLossError
from ovseg.callbacks.nonfinite import non_finite_terms
from ovseg.cli import main
from tests.integration.test_resume import TINY_SEGCLIP

BAD_STEP = 5
EVERY = 2  # last.ckpt at steps 2 and 4, then the fault at step 5


class NanParameterAt(Callback):
    """Before the batch of ``step``, fills parameter ``name`` with nan."""

    def __init__(self, step: int, name: str) -> None:
        self.step = step
        self.name = name

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                dict(pl_module.named_parameters())[self.name].fill_(math.nan)


class NanGradientAt(Callback):
    """In the batch of ``step``, replaces parameter ``name``'s gradient by nan (the loss stays finite)."""

    def __init__(self, step: int, name: str) -> None:
        self.step = step
        self.name = name
        self._handle = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            parameter = dict(pl_module.named_parameters())[self.name]
            self._handle = parameter.register_hook(lambda grad: torch.full_like(grad, math.nan))


def fit_with(tmp_path, callback: dict) -> None:
    config = json.loads(json.dumps(TINY_SEGCLIP))
    config["trainer"].update(default_root_dir=str(tmp_path / "runs"), callbacks=[callback], max_epochs=1)
    config["checkpoint"] = {"every_n_train_steps": EVERY}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["fit", "-c", str(path)])


def _saved_checkpoints(tmp_path) -> list[dict]:
    return [torch.load(p, weights_only=False) for p in (tmp_path / "runs").rglob("*.ckpt")]


def _logged(tmp_path, tag: str) -> list[tuple[int, float]]:
    (events,) = (tmp_path / "runs").rglob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_nan_loss_term_stops_training_naming_term_and_step(tmp_path):
    poison = "model.reconstruction.restore.fc.weight"  # read by the reconstruction loss only
    callback = {"class_path": f"{__name__}.NanParameterAt", "init_args": {"step": BAD_STEP, "name": poison}}
    with pytest.raises(NonFiniteLossError) as info:
        fit_with(tmp_path, callback)
    message = str(info.value)
    assert message.startswith(
        f"train/loss_reconstruction is nan at step {BAD_STEP} (epoch 0, batch {BAD_STEP}:"
    )
    assert "also non-finite: train/loss = nan" in message and "contrastive" not in message
    assert "synthetic/" in message, "the batch's sample keys are named"
    assert "last.ckpt is the last finite state" in message

    (checkpoint,) = _saved_checkpoints(tmp_path)  # last.ckpt only, from before the fault
    assert checkpoint["global_step"] == BAD_STEP // EVERY * EVERY
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())

    # what makes the cause visible: the terms and the gradient norm, step by step, up to the fault
    for tag in ("train/loss_contrastive", "train/loss_reconstruction", "train/grad_norm"):
        values = _logged(tmp_path, tag)
        assert len(values) == BAD_STEP and all(math.isfinite(v) for _, v in values), tag


def test_nan_gradient_with_a_finite_loss_stops_before_the_update(tmp_path):
    name = "model.visual.proj"
    callback = {"class_path": f"{__name__}.NanGradientAt", "init_args": {"step": BAD_STEP, "name": name}}
    with pytest.raises(NonFiniteLossError) as info:
        fit_with(tmp_path, callback)
    message = str(info.value)
    assert message.startswith(f"the gradient norm is nan (the loss was finite) at step {BAD_STEP}")
    assert f"parameters with non-finite gradients (1): {name}." in message
    (checkpoint,) = _saved_checkpoints(tmp_path)
    assert checkpoint["global_step"] == BAD_STEP // EVERY * EVERY
    assert torch.isfinite(checkpoint["state_dict"][name]).all()


def test_non_finite_terms_lists_the_terms_before_the_total():
    metrics = {
        "train/loss": torch.tensor(math.inf),
        "train/loss_mask": torch.tensor(math.nan),
        "train/loss_contrastive": torch.tensor(0.7),
        "train/logit_scale": torch.tensor(math.nan),  # not a loss
    }
    found = non_finite_terms(metrics)
    assert list(found) == ["train/loss_mask", "train/loss"]
    assert math.isnan(found["train/loss_mask"]) and found["train/loss"] == math.inf
