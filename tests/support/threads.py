"""One torch compute thread for a block: two OpenMP threads on a shared 2-core machine can stall
for whole time slices per op, which makes tiny-model tests slow and their timing erratic."""

from __future__ import annotations

from contextlib import AbstractContextManager

from ovseg.compute_threads import compute_threads


def single_compute_thread() -> AbstractContextManager[None]:
    return compute_threads(1)
