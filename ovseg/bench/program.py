"""``make bench``: SegCLIP and S-Seg side by side, one protocol, one report.

Synthetic mode (no --data): train each method's tiny CPU recipe on the built-in synthetic pairs
(same seed, same steps, side by side), score them on the synthetic evaluation split, compare with
chance and with the oracles; S-Seg+ self-trains on S-Seg's labels of its training scenes, and the
ground-truth oracle trains the same recipe on those scenes' true masks.
Real mode (--data and checkpoints): no training; score each checkpoint on each dataset under one
protocol (default groupvit), a column per dataset plus the average.

The report lands in ``benchmarks/results/<run>/`` (report.md, report.json, pictures, each method's
outputs). The folder is written as ``<run>.incomplete`` and renamed when everything succeeded.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from ovseg.bench.inputs import BenchInputError
from ovseg.bench.runs import MethodRunError
from ovseg.errors import OvsegUserError
from ovseg.evaluation.protocols import DEFAULT_PROTOCOL

REPO = Path(__file__).resolve().parents[2]
INCOMPLETE = ".incomplete"

EXAMPLES = """examples:
  benchmarks/bench.py                                   # synthetic mode, both methods
  benchmarks/bench.py --steps 50 --eval-images 64       # a quicker synthetic run
  benchmarks/bench.py --seed 0 1 2                      # three seeds: the spread of every method
  benchmarks/bench.py --data voc context coco --segclip-ckpt segclip.bin --sseg-ckpt sseg.ckpt \\
      --data-root /data --protocol groupvit             # real mode
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="results folder")
    parser.add_argument("--run", default=None, help="run name (default: a timestamp)")
    parser.add_argument(
        "--protocol", default=DEFAULT_PROTOCOL, help="groupvit (default), groupvit-plain, segclip or tcl"
    )
    parser.add_argument("--grid", type=int, default=6, help="evaluation images in the predictions picture")
    synthetic = parser.add_argument_group("synthetic mode")
    synthetic.add_argument(
        "--methods",
        nargs="+",
        default=["segclip", "sseg", "sseg+"],
        help="methods to train (default: %(default)s); sseg+ is S-Seg+, self-training on S-Seg's labels",
    )
    synthetic.add_argument(
        "--steps", type=int, default=None, help="steps per method (default: each recipe's)"
    )
    synthetic.add_argument(
        "--seed",
        type=int,
        nargs="+",
        default=[0],
        help="training seed; with several (e.g. --seed 0 1 2) every method trains once per seed and the "
        "report adds each seed's mIoU with the mean ± std; the main table and pictures are the first seed's",
    )
    synthetic.add_argument(
        "--threads",
        type=int,
        default=1,
        help="compute threads of each method's process; the methods train side by side (default: 1, "
        "which keeps the figures independent of the machine's core count)",
    )
    synthetic.add_argument("--eval-images", type=int, default=256, help="synthetic evaluation images")
    synthetic.add_argument(
        "--lightning-args",
        default="",
        help='extra LightningCLI overrides for SegCLIP and S-Seg, e.g. "--data.batch_size 16"',
    )
    real = parser.add_argument_group("real mode")
    real.add_argument("--data", nargs="+", default=None, help="datasets, e.g. voc context coco")
    real.add_argument("--segclip-ckpt", default=None, help="SegCLIP: a Lightning .ckpt or segclip.bin")
    real.add_argument("--sseg-ckpt", default=None, help="S-Seg: a Lightning .ckpt or a state dict")
    real.add_argument(
        "--data-root", default=None, help="folder holding the datasets (default: $OVSEG_DATA_ROOT or data)"
    )
    real.add_argument("--workers", type=int, default=2, help="evaluation dataloader workers")
    for method, name in (("segclip", "SegCLIP"), ("sseg", "S-Seg")):
        real.add_argument(
            f"--{method}-config",
            default=None,
            help=f"{name} YAML giving the architecture of foreign weights (default: the paper's)",
        )
    return parser


def real_mode_asked(args: argparse.Namespace) -> bool:
    return bool(args.data or args.segclip_ckpt or args.sseg_ckpt)


def run_folder(args: argparse.Namespace) -> Path:
    """The run's final folder; an existing one is an error (a run is never overwritten)."""
    run = args.run or time.strftime("%Y%m%d-%H%M%S")
    folder = args.out / run
    if folder.exists():
        raise BenchInputError(f"run folder {folder} already exists; pick another --run name.")
    return folder


def main(argv: list[str] | None = None) -> int:
    """Check the inputs, run the mode, write the report; returns the exit status (2: bad input)."""
    from ovseg.bench.real_mode import plan_real, run_real
    from ovseg.bench.report import environment, print_report, write_report
    from ovseg.bench.synthetic_mode import plan_synthetic, run_synthetic

    args = build_parser().parse_args(argv)
    real = real_mode_asked(args)
    try:
        plan = plan_real(args) if real else plan_synthetic(args)
        folder = run_folder(args)
    except OvsegUserError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    work = folder.with_name(folder.name + INCOMPLETE)
    shutil.rmtree(work, ignore_errors=True)  # a previous failed attempt at the same run name
    work.mkdir(parents=True)
    started = time.perf_counter()
    try:
        report = run_real(plan, work) if real else run_synthetic(plan, work)
    except MethodRunError as error:
        print(f"bench: error: {error}\nbench: partial outputs are in {work}", file=sys.stderr)
        return 1
    report = {"run": folder.name, **report, "environment": environment()}
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    print_report(report)
    write_report(report, work)
    work.rename(folder)
    print(
        f"bench: report in {folder / 'report.md'} and {folder / 'report.json'} ({report['wall_seconds']} s)"
    )
    return 0
