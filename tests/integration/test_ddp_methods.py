"""Both methods under Lightning DDP (2 gloo processes on the CPU): training steps, and evaluation of an
uneven split that scores every image exactly once.

This file is also the program the DDP run executes: Lightning's ``ddp`` strategy starts the second
process by running the same command again. For each method it builds the tiny recipe through ovseg's
LightningCLI, trains 2 steps with validation on 5 images (3 + 2 per process), saves the checkpoint,
then tests on the same 5 images. The tests compare that run's result JSON with a 1-process
``ovseg test`` of the saved checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from torch.utils.data import DistributedSampler

from ovseg.data.eval_sampler import ShardSampler
from ovseg.errors import OvsegUserError

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "segclip": str(REPO / "experiments" / "segclip" / "tiny_cpu.yaml"),
    "sseg": str(REPO / "experiments" / "sseg" / "tiny_cpu.yaml"),
}
EVAL_IMAGES = 5  # odd, so 2 processes split it unevenly
RESULT = "test_synthetic_groupvit.json"
SMALL_RUN = [f"--data.val_limit={EVAL_IMAGES}", "--data.batch_size=2", "--data.num_workers=0"]


def test_evaluation_shards_split_unevenly_without_repeating_an_image():
    dataset = range(EVAL_IMAGES)
    ours = [list(ShardSampler(dataset, num_replicas=2, rank=rank)) for rank in range(2)]
    assert ours == [[0, 2, 4], [1, 3]]
    lightning_default = [list(DistributedSampler(dataset, 2, rank, shuffle=False)) for rank in range(2)]
    assert lightning_default == [[0, 2, 4], [1, 3, 0]]  # what it replaces: image 0 scored twice
    with pytest.raises(OvsegUserError, match=r"--trainer\.devices 1"):  # a process would get none
        ShardSampler(range(1), num_replicas=2, rank=0)


def run_ddp(out: Path) -> None:
    """Each process: fit 2 steps (validation included), save, test; both methods, one process group."""
    from ovseg.lightning_cli import run_cli

    for method, recipe in TINY.items():
        folder = out / method
        cli = run_cli(
            [
                "-c",
                recipe,
                "--trainer.strategy=ddp",
                "--trainer.accelerator=cpu",
                "--trainer.devices=2",
                "--trainer.max_steps=2",
                "--trainer.val_check_interval=2",
                "--trainer.check_val_every_n_epoch=null",
                "--trainer.num_sanity_val_steps=0",
                "--trainer.enable_checkpointing=false",
                "--trainer.logger=false",
                f"--trainer.default_root_dir={folder}",
                f"--model.results_dir={folder / 'ddp'}",
                *SMALL_RUN,
            ],
            "",
            run=False,
        )
        trainer, model = cli.trainer, cli.model
        trainer.fit(model, datamodule=cli.datamodule)
        trainer.save_checkpoint(folder / "ddp.ckpt")
        trainer.test(model, datamodule=cli.datamodule)
        sums = {name: float(param.detach().double().sum()) for name, param in model.named_parameters()}
        (folder / f"params_rank{trainer.global_rank}.json").write_text(json.dumps(sums))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp_methods")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, __file__, str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return out


def one_process_test(method: str, checkpoint: Path, results: Path) -> dict:
    from ovseg.cli import main

    main(
        [
            "test",
            "-c",
            TINY[method],
            "--ckpt_path",
            str(checkpoint),
            "--trainer.devices=1",
            "--trainer.logger=false",
            f"--trainer.default_root_dir={results}",
            f"--model.results_dir={results}",
            *SMALL_RUN,
        ]
    )
    return json.loads((results / RESULT).read_text())


@pytest.mark.slow
@pytest.mark.parametrize("method", list(TINY))
def test_ddp_training_steps_and_uneven_evaluation_match_one_process(ddp_run, method):
    folder = ddp_run / method
    replicas = [json.loads((folder / f"params_rank{rank}.json").read_text()) for rank in range(2)]
    assert replicas[0] == replicas[1]  # 2 DDP steps kept the replicas identical
    distributed = json.loads((folder / "ddp" / RESULT).read_text())
    single = one_process_test(method, folder / "ddp.ckpt", folder / "single")
    assert distributed["dataset"]["num_images"] == single["dataset"]["num_images"] == EVAL_IMAGES
    for key in ("mIoU", "aAcc", "mAcc"):
        assert distributed["metrics"][key] == pytest.approx(single["metrics"][key], abs=1e-6), key


if __name__ == "__main__":
    run_ddp(Path(sys.argv[1]))
