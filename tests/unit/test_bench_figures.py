"""The report's pictures are written and colour labels as the legend says."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ovseg.bench.figures import colour_labels, iou_bar_chart, loss_curves, prediction_grid
from ovseg.data.palette import voc_palette


def test_labels_take_their_legend_colour_and_ignore_is_white():
    label = np.array([[0, 1], [8, 255]])
    coloured = colour_labels(label)
    palette = voc_palette()
    assert coloured[0, 0].tolist() == palette[0].tolist()
    assert coloured[1, 0].tolist() == palette[8].tolist()
    assert coloured[1, 1].tolist() == [255, 255, 255]


def test_pictures_are_written_as_png(tmp_path):
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    label = np.zeros((16, 16), dtype=np.int64)
    label[4:12, 4:12] = 1
    names = ["background", "ball"]
    paths = [
        prediction_grid(
            [image, image],
            [label, label],
            {"a": [label, label], "b": [label * 0] * 2},
            names,
            tmp_path / "g.png",
        ),
        iou_bar_chart(names, {"a": [90.0, None], "b": [50.0, 10.0]}, tmp_path / "b.png"),
        loss_curves({"a": [(0, 2.0), (1, 1.0)], "b": []}, tmp_path / "l.png"),
    ]
    for path in paths:
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.width > 100 and picture.height > 100
