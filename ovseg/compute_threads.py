"""A fixed number of torch compute threads for a block of code, restored afterwards.

A model's numerics depend on its thread count (the order of floating-point reductions), so code
that must repeat exactly sets it; on a shared 2-core machine one thread also keeps tiny models from
stalling on OpenMP time slices.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def compute_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (None: leave the setting as it is)."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
