"""``ovseg export``: a trained run becomes one safetensors file that evaluates to the same mIoU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import safetensors.torch
import torch

from ovseg import export_cli
from ovseg.cli import main
from ovseg.exported import read_safetensors_metadata
from tests.support.tiny_runs import fit_one_step
from tests.unit.test_safe_load import MakesFolderWhenUnpickled

REPO = Path(__file__).resolve().parents[2]
CLASS_PATHS = {"segclip": "ovseg.methods.segclip.SegCLIP", "sseg": "ovseg.methods.sseg.SSeg"}
EVAL = ["--data.val_limit", "3", "--data.num_workers", "0", "--trainer.logger", "false"]


def _test(method: str, checkpoint: Path, results: Path) -> dict:
    main(
        ["test", "--model", method, "--ckpt", str(checkpoint), "--model.results_dir", str(results),
         "--trainer.default_root_dir", str(results), *EVAL]
    )  # fmt: skip
    return json.loads((results / "test_synthetic_groupvit.json").read_text())


@pytest.mark.parametrize("method", list(CLASS_PATHS))
def test_an_exported_run_evaluates_like_its_checkpoint(tmp_path, method, capsys):
    run = fit_one_step(method, tmp_path / "runs")
    (checkpoint,) = run.rglob("*.ckpt")
    out = tmp_path / "model.safetensors"
    assert export_cli.main(["--ckpt", str(run), "--out", str(out)]) == 0  # a run folder is accepted
    assert f"--ckpt {out}" in capsys.readouterr().out  # says how to evaluate it
    metadata = read_safetensors_metadata(out)
    assert metadata["class_path"] == CLASS_PATHS[method] and metadata["source"] == str(checkpoint)
    saved = torch.load(checkpoint, weights_only=True)["state_dict"]
    exported = safetensors.torch.load_file(str(out))
    assert exported.keys() == saved.keys()
    assert all(torch.equal(exported[key], saved[key]) for key in saved)

    from_checkpoint = _test(method, checkpoint, tmp_path / "from_ckpt")
    from_export = _test(method, out, tmp_path / "from_export")
    assert from_export["dataset"]["num_images"] == from_checkpoint["dataset"]["num_images"] == 3
    for key in ("mIoU", "aAcc", "mAcc"):
        assert from_export["metrics"][key] == pytest.approx(from_checkpoint["metrics"][key], abs=1e-9)


def _lightning_like_checkpoint(path: Path, **extra) -> dict[str, torch.Tensor]:
    state = {"model.weight": torch.randn(3, 2), "model.bias": torch.zeros(3)}
    hparams = {"width": 3, "betas": (0.9, 0.98), "weights": "/elsewhere/init.bin", "_class_path": "pkg.Model"}
    torch.save({"state_dict": state, "hyper_parameters": hparams, "optimizer_states": [{}], **extra}, path)
    return state


def test_hyper_parameters_travel_as_json_and_weight_sources_are_switched_off(tmp_path):
    source = tmp_path / "run.ckpt"
    _lightning_like_checkpoint(source)
    out = tmp_path / "model.safetensors"
    assert export_cli.main(["--ckpt", str(source), "--out", str(out)]) == 0
    hparams = json.loads(read_safetensors_metadata(out)["hyper_parameters"])
    assert hparams == {"width": 3, "betas": [0.9, 0.98], "weights": None}  # the export holds the weights
    from ovseg.exported import model_arguments

    (argument,) = model_arguments(out)
    assert argument.startswith("--model=")
    assert json.loads(argument.removeprefix("--model=")) == {
        "class_path": "pkg.Model",
        "init_args": {"width": 3, "betas": [0.9, 0.98]},
    }


def test_an_interrupted_export_leaves_no_file_behind(tmp_path, monkeypatch):
    source = tmp_path / "run.ckpt"
    _lightning_like_checkpoint(source)
    real_save = safetensors.torch.save_file

    def write_then_interrupt(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt  # e.g. Ctrl-C between the write and the rename

    monkeypatch.setattr(safetensors.torch, "save_file", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_cli.main(["--ckpt", str(source), "--out", str(tmp_path / "model.safetensors")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]


def test_an_existing_output_is_kept_unless_overwrite(tmp_path, capsys):
    source, out = tmp_path / "run.ckpt", tmp_path / "model.safetensors"
    _lightning_like_checkpoint(source)
    out.write_text("keep me")
    assert export_cli.main(["--ckpt", str(source), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "keep me"
    assert export_cli.main(["--ckpt", str(source), "--out", str(out), "--overwrite"]) == 0


def test_a_checkpoint_that_would_run_code_is_refused_and_trust_pickle_converts_a_trusted_one(
    tmp_path, capsys
):
    marker = str(tmp_path / "code_ran")
    source, out = tmp_path / "old.ckpt", tmp_path / "old.safetensors"
    state = _lightning_like_checkpoint(source, payload=MakesFolderWhenUnpickled(marker))
    assert export_cli.main(["--ckpt", str(source), "--out", str(out)]) == 2
    assert "arbitrary code" in capsys.readouterr().err
    assert not os.path.exists(marker) and not out.exists()
    # --trust-pickle: the user vouches for the file; it is opened once, and the result needs no trust
    assert export_cli.main(["--ckpt", str(source), "--out", str(out), "--trust-pickle"]) == 0
    assert os.path.exists(marker)  # the opt-in really unpickled (here: harmlessly made a folder)
    exported = safetensors.torch.load_file(str(out))
    assert all(torch.equal(exported[key], value) for key, value in state.items())
