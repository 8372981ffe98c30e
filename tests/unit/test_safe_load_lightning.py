"""What Lightning 2.6 does with a checkpoint that would run code: ``--ckpt_path`` resumes refuse it.

``Trainer.fit/validate/test(ckpt_path=...)`` pass ``weights_only=None`` to ``torch.load``, which since
torch 2.6 means True; LightningCLI reads a checkpoint's hyper-parameters with ``weights_only=True``.
These tests pin that behaviour, so an upgrade that loosens it fails here.
"""

from __future__ import annotations

import os

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel

from ovseg.cli import main
from tests.unit.test_safe_load import MakesFolderWhenUnpickled


def _malicious_checkpoint(tmp_path) -> tuple[str, str]:
    marker = str(tmp_path / "code_ran")
    path = tmp_path / "last.ckpt"
    state = {k: v for k, v in BoringModel().state_dict().items()}
    torch.save(
        {"state_dict": state, "pytorch-lightning_version": "2.6.6", "x": MakesFolderWhenUnpickled(marker)},
        path,
    )
    return str(path), marker


def test_trainer_resume_refuses_a_checkpoint_that_would_run_code(tmp_path):
    path, marker = _malicious_checkpoint(tmp_path)
    trainer = Trainer(
        accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    with pytest.raises(Exception, match="Weights only load failed"):
        trainer.fit(BoringModel(), ckpt_path=path)
    assert not os.path.exists(marker)


def test_ovseg_test_with_such_a_checkpoint_stops_before_building_anything(tmp_path):
    path, marker = _malicious_checkpoint(tmp_path)
    with pytest.raises(Exception, match="Weights only load failed"):
        main(["test", "--model", "sseg", "--ckpt", path, "--trainer.default_root_dir", str(tmp_path)])
    assert not os.path.exists(marker)
