"""One method's part of real mode, in a process of its own: evaluate a checkpoint on each dataset.

Each evaluation is exactly ``ovseg test --model M --data D --ckpt F --protocol P --data-root R``
(the same argument expansion and LightningCLI run), so a benchmark figure and a hand-run
``ovseg test`` agree. Run by ``benchmarks/bench.py`` as
``python -m ovseg.bench.checkpoint_run --method M --ckpt F --data voc coco --out DIR ...``.
Writes ``DIR/test_<dataset>_<protocol>.json`` per dataset (by ``ovseg test``), ``DIR/predictions.npz``
(the first images of the first dataset) and ``DIR/result.json`` (with the model's confidence
ceiling on each dataset's classes at that dataset's threshold).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from ovseg.bench.method_run import model_ceiling, parameter_counts, peak_memory_mb
from ovseg.bench.predictions import first_predictions, save_predictions
from ovseg.cli import alias_help, expand_aliases
from ovseg.evaluation.protocols import DEFAULT_PROTOCOL
from ovseg.evaluation.report import write_json_atomic
from ovseg.lightning_cli import run_cli


def ovseg_test_arguments(
    method: str,
    checkpoint: str,
    dataset: str,
    protocol: str,
    out: Path,
    data_root: str | None,
    num_workers: int,
    config: str | None = None,
) -> list[str]:
    """The ``ovseg test`` command line of one evaluation (before alias expansion)."""
    args = ["test", *(["-c", config] if config else []), "--model", method, "--data", dataset]
    args += ["--ckpt", checkpoint, "--protocol", protocol]
    if data_root is not None:
        args += ["--data-root", data_root]
    return [
        *args,
        "--data.num_workers", str(num_workers),
        "--model.results_dir", str(out),
        "--trainer.logger", "false",
        "--trainer.default_root_dir", str(out),
    ]  # fmt: skip


def run_checkpoint(
    method: str,
    checkpoint: str,
    datasets: Sequence[str],
    out: Path,
    protocol: str = DEFAULT_PROTOCOL,
    data_root: str | None = None,
    grid: int = 6,
    num_workers: int = 2,
    config: str | None = None,
) -> dict:
    """Evaluate ``checkpoint`` on every dataset under ``protocol``; returns the figures.

    ``config`` is a method YAML (``-c``) that sets the architecture foreign weights are loaded into;
    a Lightning checkpoint brings its own."""
    out.mkdir(parents=True, exist_ok=True)
    records, ceilings, model = {}, {}, None
    for index, dataset in enumerate(datasets):
        argv = ovseg_test_arguments(
            method, checkpoint, dataset, protocol, out, data_root, num_workers, config
        )
        cli = run_cli(expand_aliases(argv), alias_help())
        model = cli.model
        records[dataset] = json.loads(model.results_path("test").read_text())
        ceilings[dataset] = model_ceiling(model)  # this dataset's classes and threshold
        if index == 0:
            kept = first_predictions(model, cli.datamodule, grid)
            save_predictions(out / "predictions.npz", kept)
    result = {
        "checkpoint": str(checkpoint),
        "model": type(model).__name__,
        "parameters": parameter_counts(model),
        "train": None,
        "evals": records,
        "ceilings": ceilings,
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "device": str(model.device),
        "threads": torch.get_num_threads(),
    }
    write_json_atomic(out / "result.json", result)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True, help="segclip or sseg")
    parser.add_argument("--ckpt", required=True, help="a Lightning .ckpt or released weights")
    parser.add_argument("--data", nargs="+", required=True, help="datasets, e.g. voc context coco")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL)
    parser.add_argument("--data-root", default=None)
    parser.add_argument(
        "--grid", type=int, default=6, help="images of the first dataset kept for the picture"
    )
    parser.add_argument("--workers", type=int, default=2, help="dataloader workers")
    parser.add_argument("--config", default=None, help="method YAML for foreign weights' architecture")
    args = parser.parse_args(argv)
    run_checkpoint(
        args.method,
        args.ckpt,
        args.data,
        args.out,
        args.protocol,
        args.data_root,
        args.grid,
        args.workers,
        args.config,
    )


if __name__ == "__main__":
    main()
