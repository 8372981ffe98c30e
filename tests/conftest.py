"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from tests.support.threads import single_compute_thread


@pytest.fixture
def one_compute_thread():
    """The test runs on one torch thread (``tests.support.threads``); opt in per module with
    ``pytestmark = pytest.mark.usefixtures("one_compute_thread")``."""
    with single_compute_thread():
        yield
