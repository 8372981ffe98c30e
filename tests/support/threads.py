"""One torch compute thread for a block: two OpenMP threads on a shared 2-core machine can stall
for whole time slices per op, which makes tiny-model tests slow and their timing erratic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def single_compute_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
