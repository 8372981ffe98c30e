"""``make bench``: train and compare SegCLIP and S-Seg (synthetic mode), or score their checkpoints
on real datasets (real mode). The program lives in ``ovseg.bench.program``; ``--help`` shows both modes.

Run: .venv/bin/python benchmarks/bench.py [--steps N] [--seed S] [--methods segclip sseg]
     .venv/bin/python benchmarks/bench.py --data voc context coco --segclip-ckpt F --sseg-ckpt F
         [--protocol groupvit] [--data-root DIR]
"""

from __future__ import annotations

import sys

from ovseg.bench.program import main

if __name__ == "__main__":
    sys.exit(main())
