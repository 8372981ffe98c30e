"""Checkpoint files are whole or absent: a failed save keeps the old file, and a process killed
with SIGKILL at random moments while it rewrites a checkpoint always leaves a loadable one."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ovseg.callbacks.atomic_io import AtomicCheckpointIO, partial_path

REPO = Path(__file__).resolve().parents[2]


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


def test_a_save_that_fails_midway_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1, "weights": torch.ones(1000)}, path)
    with pytest.raises(RuntimeError, match="cannot pickle"):
        io.save_checkpoint({"step": 2, "weights": torch.zeros(100_000), "bad": Unpicklable()}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert not partial_path(path).exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


_WRITER = """
import sys, torch
from ovseg.callbacks.atomic_io import AtomicCheckpointIO
io, step = AtomicCheckpointIO(), 0
while True:
    step += 1
    io.save_checkpoint({"step": step, "weights": torch.full((4_000_000,), float(step))}, sys.argv[1])
"""


@pytest.mark.slow
def test_sigkill_while_writing_never_leaves_a_truncated_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    rng = random.Random(0)
    for _ in range(4):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], cwd=REPO)
        try:
            deadline = time.monotonic() + 120
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.05, 0.5))  # somewhere in a 16 MB write
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=60)
        finally:
            if writer.poll() is None:
                writer.kill()
        saved = torch.load(path, weights_only=True)
        assert saved["weights"].shape == (4_000_000,) and bool((saved["weights"] == saved["step"]).all())
