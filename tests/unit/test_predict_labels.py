"""``ovseg predict --labels``: the text is split, checked and refused with the fix named."""

from __future__ import annotations

import re

import pytest

from ovseg.errors import OvsegUserError
from ovseg.predict.inputs import MAX_LABELS, parse_labels


def test_labels_are_split_on_commas_and_trimmed():
    assert parse_labels(" cat,dog , a red car ", background=True) == ("cat", "dog", "a red car")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  ", "--labels is empty"),
        ("cat,,dog", "label 2 is empty"),
        ("cat, Dog, dog ", "'dog' is given twice ('Dog')"),
        ("cat, Background", "'background' is label 0 already"),
        (", ".join(f"c{i}" for i in range(MAX_LABELS + 1)), "label PNGs hold at most 255"),
    ],
)
def test_bad_labels_are_refused_naming_the_fix(text, message):
    with pytest.raises(OvsegUserError, match=re.escape(message)):
        parse_labels(text, background=True)


def test_background_is_an_ordinary_label_without_the_background_rule():
    assert parse_labels("cat, background", background=False) == ("cat", "background")
