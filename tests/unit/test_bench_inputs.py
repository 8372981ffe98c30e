"""Real mode's checkpoint check: each method's own files pass, anything else is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from ovseg.bench.inputs import BenchInputError, check_checkpoint

REPO = Path(__file__).resolve().parents[2]


def tiny(method: str) -> dict:
    recipe = REPO / "experiments" / method / "tiny_cpu.yaml"
    return yaml.safe_load(recipe.read_text())["model"]["init_args"]


def test_released_segclip_weights_and_an_sseg_state_dict_are_foreign_checkpoints(tmp_path):
    from ovseg.methods.segclip import SegCLIP
    from ovseg.methods.segclip.checkpoint import to_released
    from ovseg.methods.sseg import SSeg

    torch.manual_seed(0)
    torch.save(to_released(SegCLIP(**tiny("segclip")).model.state_dict()), tmp_path / "segclip.bin")
    torch.save(SSeg(**tiny("sseg")).state_dict(), tmp_path / "sseg.pt")
    assert check_checkpoint("segclip", tmp_path / "segclip.bin").kind == "foreign"
    assert check_checkpoint("sseg", tmp_path / "sseg.pt").kind == "foreign"
    with pytest.raises(BenchInputError, match="holds no S-Seg weights"):
        check_checkpoint("sseg", tmp_path / "segclip.bin")


def test_lightning_checkpoints_are_recognised_and_broken_files_refused(tmp_path):
    state = {"model.weight": torch.zeros(1)}
    hyper = {"_class_path": "ovseg.methods.sseg.SSeg"}
    torch.save({"state_dict": state, "hyper_parameters": hyper}, tmp_path / "good.ckpt")
    assert check_checkpoint("sseg", tmp_path / "good.ckpt").kind == "lightning"
    torch.save(state, tmp_path / "plain.ckpt")
    with pytest.raises(BenchInputError, match="without a 'state_dict' is not a Lightning checkpoint"):
        check_checkpoint("sseg", tmp_path / "plain.ckpt")
    (tmp_path / "cut.ckpt").write_bytes((tmp_path / "good.ckpt").read_bytes()[:100])
    with pytest.raises(BenchInputError, match="cannot read it as a Lightning checkpoint"):
        check_checkpoint("sseg", tmp_path / "cut.ckpt")
