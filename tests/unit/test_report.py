"""Result files are written whole or not at all, and NaN becomes null."""

from __future__ import annotations

import json
import math

import pytest
from rich.console import Console

from ovseg.evaluation.report import print_results, write_json_atomic


def test_json_is_atomic_and_nan_free(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "r.json", {"IoU": [1.5, math.nan], "x": {"y": math.nan}})
    assert json.loads(path.read_text()) == {"IoU": [1.5, None], "x": {"y": None}}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "r.json", {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_table_lists_every_label():
    record = {
        "metrics": {
            "mIoU": 50.0,
            "aAcc": 75.0,
            "mAcc": 60.0,
            "IoU": [100.0, 0.0, math.nan],
            "Acc": [100.0, math.nan, None],
        },
        "dataset": {"name": "voc", "num_images": 2, "label_names": ["background", "cat", "dog"]},
        "protocol": {"name": "groupvit"},
    }
    console = Console(record=True, width=100)
    print_results(record, console)
    text = console.export_text()
    for expected in (
        "background",
        "cat",
        "dog",
        "50.00 / 75.00 / 60.00",
        "voc · 2 images · protocol groupvit",
    ):
        assert expected in text
