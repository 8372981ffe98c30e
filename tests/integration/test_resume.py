"""Interrupted runs resume exactly: real SIGTERM / SIGKILL to an ``ovseg fit`` process, then
``--ckpt_path last``, against the uninterrupted run: same samples in the same order (none twice,
none skipped), same losses, same final weights and validation metrics.

The killed run stops at a chosen step: a test callback waits there until the signal arrives, so
the signal lands mid-epoch, between two training batches (SIGTERM) or anywhere (SIGKILL, which
leaves only the last step-interval checkpoint).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from ovseg.callbacks import SIGTERM_EXIT_STATUS
from ovseg.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLES, BATCH, EPOCHS, EVERY = 32, 4, 2, 3  # 8 batches an epoch, 16 steps, last.ckpt every 3 steps

# SegCLIP in miniature, trained from scratch on the built-in synthetic pairs. Its Gumbel noise and
# reconstruction masks are random draws, so the runs only agree if those are reproduced too.
TINY_SEGCLIP = {
    "seed_everything": 0,
    "model": {
        "class_path": "ovseg.methods.segclip.SegCLIP",
        "init_args": {
            "image_size": 32,
            "patch_size": 8,
            "vision_width": 32,
            "vision_layers": 2,
            "vision_heads": 2,
            "first_stage_layer": 1,
            "num_centers": 4,
            "cross_layers": 1,
            "embed_dim": 32,
            "text_width": 32,
            "text_layers": 1,
            "text_heads": 2,
            "context_length": 16,
            "decoder_width": 16,
            "decoder_layers": 1,
            "decoder_heads": 2,
            "clip_pretrained": None,
            "freeze_embeddings": False,
            "superpixel_weight": 0.0,
            "lr_clip": 1.0e-3,
            "lr_new": 1.0e-3,
        },
    },
    "data": {
        "class_path": "ovseg.data.image_text.ImageTextDataModule",
        "init_args": {
            "image_size": 32,
            "batch_size": BATCH,
            "num_workers": 0,
            "context_length": 16,
            "synthetic_length": SAMPLES,
            "val_dataset": "synthetic",
            "val_limit": 4,
        },
    },
    "trainer": {
        "max_epochs": EPOCHS,
        "accelerator": "cpu",
        "deterministic": True,
        "num_sanity_val_steps": 0,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
    },
    "checkpoint": {"every_n_train_steps": EVERY},
}


class BatchRecorder(Callback):
    """Appends one JSON line per trained batch (step, epoch, keys, loss) and per validation."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _write(self, record: dict) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._write(
            {
                "step": trainer.global_step,
                "epoch": trainer.current_epoch,
                "keys": list(batch["key"]),
                "loss": float(outputs["loss"]),
            }
        )

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
            self._write({"step": trainer.global_step, "val": metrics})


class WaitForSignalAt(Callback):
    """At ``step``, touches ``marker`` and waits (up to a minute) for the signal the test sends."""

    def __init__(self, step: int, marker: str) -> None:
        self.step = step
        self.marker = marker

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        Path(self.marker).touch()
        deadline = time.monotonic() + 60
        while not trainer.received_sigterm:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no signal arrived at step {self.step}")
            time.sleep(0.02)


def _config(folder: Path, name: str, callbacks: list[dict]) -> Path:
    config = json.loads(json.dumps(TINY_SEGCLIP))
    config["trainer"]["default_root_dir"] = str(folder / "runs")
    config["trainer"]["callbacks"] = callbacks
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _recorder(path: Path) -> dict:
    return {"class_path": f"{__name__}.BatchRecorder", "init_args": {"path": str(path)}}


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_in_process(folder: Path, name: str, *extra: str) -> list[dict]:
    log = folder / f"{name}.jsonl"
    main(["fit", "-c", str(_config(folder, name, [_recorder(log)])), *extra])
    return _records(log)


def run_and_signal(
    folder: Path, name: str, step: int, signum: int, *extra: str, group: bool = False
) -> tuple[int, list[dict], str]:
    """``ovseg fit`` in a child process, sent ``signum`` once it reaches ``step`` (``group``: sent to
    its whole process group, dataloader workers included, as a cluster scheduler does)."""
    log, marker = folder / f"{name}.jsonl", folder / f"{name}.at-step"
    wait = {"class_path": f"{__name__}.WaitForSignalAt", "init_args": {"step": step, "marker": str(marker)}}
    config = _config(folder, name, [_recorder(log), wait])
    threads = str(torch.get_num_threads())  # the same float arithmetic as this process's runs
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    child = subprocess.Popen(
        [sys.executable, "-m", "ovseg", "fit", "-c", str(config), *extra],
        cwd=REPO,
        start_new_session=group,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the run ended before step {step}:\n{child.communicate()[0]}")
            time.sleep(0.05)
        if group:
            os.killpg(child.pid, signum)
        else:
            child.send_signal(signum)
        output = child.communicate(timeout=120)[0]
    finally:
        if child.poll() is None:
            child.kill()
    return child.returncode, _records(log), output


def trained_sequence(records: list[dict]) -> list[tuple[int, int, tuple[str, ...]]]:
    return [(r["step"], r["epoch"], tuple(r["keys"])) for r in records if "keys" in r]


def last_checkpoint(folder: Path, version: int) -> dict:
    path = folder / "runs" / "lightning_logs" / f"version_{version}" / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[list[dict], dict]:
    folder = tmp_path_factory.mktemp("uninterrupted")
    records = run_in_process(folder, "full")
    return records, last_checkpoint(folder, 0)


def check_resumed_run_matches(
    uninterrupted: tuple[list[dict], dict],
    before: list[dict],
    after: list[dict],
    final: dict,
    saved_step: int,
) -> None:
    full_records, full_final = uninterrupted
    full = trained_sequence(full_records)
    kept = [r for r in trained_sequence(before) if r[0] <= saved_step]  # what last.ckpt holds
    joined = kept + trained_sequence(after)
    assert [(step, epoch) for step, epoch, _ in joined] == [(s, e) for s, e, _ in full]
    assert joined == full, "a resumed run trains on the very batches of the uninterrupted run"
    for epoch in range(EPOCHS):
        keys = [key for _, e, batch in joined if e == epoch for key in batch]
        assert len(keys) == len(set(keys)) == SAMPLES, f"epoch {epoch}: a sample twice or skipped"

    losses = [r["loss"] for r in before if "keys" in r and r["step"] <= saved_step]
    losses += [r["loss"] for r in after if "keys" in r]
    assert losses == pytest.approx([r["loss"] for r in full_records if "keys" in r], rel=1e-5, abs=1e-6)
    full_val = [r["val"] for r in full_records if "val" in r][-1]
    resumed_val = [r["val"] for r in after if "val" in r][-1]
    assert full_val.keys() == resumed_val.keys() and "val/mIoU" in full_val
    assert resumed_val == pytest.approx(full_val, rel=1e-5, abs=1e-6)

    assert final["global_step"] == full_final["global_step"] == SAMPLES // BATCH * EPOCHS
    for name, tensor in full_final["state_dict"].items():
        torch.testing.assert_close(final["state_dict"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def test_sigterm_mid_epoch_saves_a_checkpoint_and_resuming_repeats_the_run(tmp_path, uninterrupted):
    stop = SAMPLES // BATCH + 3  # the 3rd batch of epoch 1; not a step-interval checkpoint
    status, before, output = run_and_signal(tmp_path, "killed", stop, signal.SIGTERM)
    assert status == SIGTERM_EXIT_STATUS, output
    assert "SIGTERM at step 11: saved" in output and "--ckpt_path last" in output
    saved = last_checkpoint(tmp_path, 0)
    assert saved["global_step"] == stop, "SIGTERM saves the step it finished, not an older one"
    assert not list((tmp_path / "runs").rglob("*.partial")), "no half-written checkpoint is left"

    after = run_in_process(tmp_path, "resumed", "--ckpt_path", "last")
    assert trained_sequence(after)[0][0] == stop + 1
    check_resumed_run_matches(uninterrupted, before, after, last_checkpoint(tmp_path, 1), stop)


@pytest.mark.slow
def test_sigkill_mid_epoch_resumes_from_the_last_step_checkpoint(tmp_path, uninterrupted):
    stop = 5  # epoch 0, batch 5 of 8; last.ckpt was written at step 3
    status, before, output = run_and_signal(tmp_path, "killed", stop, signal.SIGKILL)
    assert status == -signal.SIGKILL, output
    saved_step = stop // EVERY * EVERY
    assert last_checkpoint(tmp_path, 0)["global_step"] == saved_step

    after = run_in_process(tmp_path, "resumed", "--ckpt_path", "last")
    assert trained_sequence(after)[0][0] == saved_step + 1
    check_resumed_run_matches(uninterrupted, before, after, last_checkpoint(tmp_path, 1), saved_step)


@pytest.mark.slow
def test_sigterm_to_the_process_group_with_dataloader_workers(tmp_path, uninterrupted):
    """Workers leave SIGTERM to the main process; crops are seeded per sample, so 2 workers train
    on exactly what the uninterrupted single-process-loading run did."""
    stop = 6
    workers = ("--data.num_workers", "2")
    status, before, output = run_and_signal(tmp_path, "killed", stop, signal.SIGTERM, *workers, group=True)
    assert status == SIGTERM_EXIT_STATUS, output
    assert last_checkpoint(tmp_path, 0)["global_step"] == stop
    after = run_in_process(tmp_path, "resumed", "--ckpt_path", "last", *workers)
    check_resumed_run_matches(uninterrupted, before, after, last_checkpoint(tmp_path, 1), stop)


_KEEPS_WORKERS_ALIVE = """
from ovseg.data.image_text import ImageTextDataModule
module = ImageTextDataModule(val_dataset=None, synthetic_length=8, batch_size=4, num_workers=2, image_size=32,
                             normalization="clip")
loader = module.train_dataloader()
print(sum(len(batch["key"]) for batch in loader))
KEEP = loader  # its persistent workers are still alive when the interpreter exits
"""


def test_dataloader_workers_that_shrug_off_sigterm_still_let_the_process_exit():
    """Python's multiprocessing ends daemonic workers with SIGTERM at exit and waits for them."""
    result = subprocess.run(
        [sys.executable, "-c", _KEEPS_WORKERS_ALIVE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "8", result.stderr
    assert "killed by signal" not in result.stderr


def test_ckpt_path_last_without_a_checkpoint_starts_fresh(tmp_path):
    records = run_in_process(tmp_path, "first", "--ckpt_path", "last", "--trainer.max_steps", "2")
    assert [r["step"] for r in records if "keys" in r] == [1, 2]
    assert last_checkpoint(tmp_path, 0)["global_step"] == 2


def test_resuming_mid_epoch_with_another_batch_size_is_refused(tmp_path, capsys):
    run_in_process(tmp_path, "first", "--trainer.max_steps", "3")
    with pytest.raises(SystemExit) as exit_info:
        run_in_process(tmp_path, "second", "--ckpt_path", "last", "--data.batch_size", "8")
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "after batch 3 of epoch 0" in message and "batch_size 4 → 8" in message
