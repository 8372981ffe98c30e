"""Safe loading: real weight files load, a pickle that would run code is refused without running it."""

from __future__ import annotations

import argparse
import os
import pickle
import zipfile

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from ovseg.methods.sseg.weights import load_sseg_weights
from ovseg.nn.clip import read_state_dict as read_clip_state_dict
from ovseg.nn.dino import load_state_dict_file
from ovseg.safe_load import UnsafeWeightsFileError, load_weights_object, read_state_dict
from ovseg.torchscript_tensors import is_torchscript_archive, read_torchscript_tensors


class MakesFolderWhenUnpickled:
    """A pickle payload: unpickling it calls ``os.mkdir(marker)`` — the side effect that must not happen."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"layer.weight": torch.randn(3, 2), "layer.bias": torch.randn(3), "step": torch.tensor(7)}


def _assert_same(loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_a_plain_torch_save_state_dict_loads(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(_state(), path)
    _assert_same(read_state_dict(path), _state())


def test_a_safetensors_file_loads(tmp_path):
    path = tmp_path / "weights.safetensors"
    save_file(_state(), str(path))
    _assert_same(read_state_dict(path), _state())


def test_a_lightning_style_checkpoint_is_unwrapped_and_ddp_prefix_removed(tmp_path):
    path = tmp_path / "run.ckpt"
    state = {"module." + key: value for key, value in _state().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"lr": 1e-3, "betas": (0.9, 0.98)}}, path)
    _assert_same(read_state_dict(path), _state())


def _malicious_pickle(tmp_path) -> tuple[str, str]:
    marker = str(tmp_path / "code_ran")
    path = tmp_path / "malicious.pt"
    torch.save({"layer.weight": torch.ones(2), "payload": MakesFolderWhenUnpickled(marker)}, path)
    return str(path), marker


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    path, marker = _malicious_pickle(tmp_path)
    with pytest.raises(UnsafeWeightsFileError) as refused:
        load_weights_object(path)
    message = str(refused.value)
    assert not os.path.exists(marker), "unpickling ran the payload"
    assert "mkdir" in message and "arbitrary code" in message  # names what it needed, and why not
    assert "ovseg export" in message and "safetensors" in message  # and how to convert a trusted file


@pytest.mark.parametrize(
    "reader",
    [read_clip_state_dict, load_state_dict_file, lambda path: load_sseg_weights(nn.Module(), path)],
    ids=["clip", "dino", "sseg"],
)
def test_every_weights_reader_refuses_the_malicious_pickle(tmp_path, reader):
    path, marker = _malicious_pickle(tmp_path)
    with pytest.raises(UnsafeWeightsFileError):
        reader(path)
    assert not os.path.exists(marker)


def test_the_released_segclip_path_refuses_the_malicious_pickle(tmp_path):
    from ovseg.methods.segclip import SegCLIP
    from tests.unit.test_segclip_model import TINY

    path, marker = _malicious_pickle(tmp_path)
    with pytest.raises(UnsafeWeightsFileError):
        SegCLIP(**{**TINY, "clip_pretrained": None, "weights": path})
    assert not os.path.exists(marker)


def test_pickled_python_objects_are_refused_too_and_trust_pickle_converts_them(tmp_path):
    path = tmp_path / "training_checkpoint.pth"
    torch.save({"model": _state(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(UnsafeWeightsFileError, match=r"argparse\.Namespace"):
        read_state_dict(path)
    trusted = load_weights_object(path, trust_pickle=True)  # the explicit opt-in, for a trusted file
    assert trusted["args"].lr == 0.1


def test_a_file_that_is_not_weights_gets_a_plain_error(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_bytes(b"these are not weights")
    with pytest.raises(Exception, match="cannot read") as error:
        read_state_dict(path)
    assert not isinstance(error.value, UnsafeWeightsFileError)


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 3)
        self.register_buffer("shift", torch.arange(3.0))
        self.mask = torch.ones(3)  # a plain tensor attribute: traced into a constant, not a weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) + self.shift * self.mask


class _Tower(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(_Block(), _Block())
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.low_precision = nn.Parameter(torch.randn(2, 3).half())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x) * self.scale + self.low_precision.float().sum()


def test_a_traced_torchscript_archive_gives_its_state_dict_without_torch_jit_load(tmp_path):
    path = tmp_path / "ViT-tiny.pt"
    torch.manual_seed(0)
    tower = _Tower()
    with pytest.warns(FutureWarning):  # torch.jit.trace is deprecated; OpenAI's archives were traced
        traced = torch.jit.trace(tower, torch.zeros(1, 3))
    torch.jit.save(traced, path)
    assert is_torchscript_archive(path)
    tensors = read_torchscript_tensors(path)
    _assert_same(tensors, {key: value.detach() for key, value in tower.state_dict().items()})
    assert tensors["low_precision"].dtype == torch.float16


def test_a_torchscript_style_archive_with_a_code_payload_is_refused_without_running_it(tmp_path):
    marker = str(tmp_path / "code_ran")
    path = tmp_path / "ViT-B-16.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/constants.pkl", pickle.dumps(()))
        archive.writestr("archive/data.pkl", pickle.dumps(MakesFolderWhenUnpickled(marker)))
    with pytest.raises(UnsafeWeightsFileError, match="mkdir"):
        read_clip_state_dict(path)
    assert not os.path.exists(marker)
