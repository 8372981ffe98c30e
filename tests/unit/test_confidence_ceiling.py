"""The confidence ceiling equals hand-computed softmax values on embeddings of known geometry."""

from __future__ import annotations

import math

import pytest
import torch

from ovseg.evaluation.confidence_ceiling import classes_reaching, confidence_ceiling


def test_orthogonal_classes_reach_the_softmax_of_the_scale_against_zero():
    ceiling = confidence_ceiling(torch.eye(3) * 5.0, scale=4.0, names=("a", "b", "c"))  # norms do not matter
    expected = math.exp(4.0) / (math.exp(4.0) + 2.0)  # cos 1 with itself, 0 with the two others
    assert ceiling["per_class"] == pytest.approx({"a": expected, "b": expected, "c": expected})
    assert ceiling["mean_cosine"] == pytest.approx(0.0) and ceiling["max_cosine"] == pytest.approx(0.0)
    assert ceiling["logit_scale"] == 4.0


def test_close_classes_cap_each_other_and_the_threshold_picks_the_reachable_ones():
    # a and b at 60 degrees (cosine 0.5), c orthogonal to both
    embeddings = torch.tensor([[1.0, 0.0, 0.0], [0.5, math.sqrt(3) / 2, 0.0], [0.0, 0.0, 1.0]])
    ceiling = confidence_ceiling(embeddings, scale=10.0, names=("a", "b", "c"))
    a = math.exp(10.0) / (math.exp(10.0) + math.exp(5.0) + 1.0)
    c = math.exp(10.0) / (math.exp(10.0) + 2.0)
    assert ceiling["per_class"] == pytest.approx({"a": a, "b": a, "c": c})
    assert ceiling["max_cosine"] == pytest.approx(0.5) and ceiling["mean_cosine"] == pytest.approx(1 / 6)
    assert a < 0.995 < c
    assert classes_reaching(ceiling, 0.995) == ["c"] and classes_reaching(ceiling, 0.9) == ["a", "b", "c"]


def test_identical_classes_can_never_be_told_apart():
    ceiling = confidence_ceiling(torch.ones(2, 4), scale=100.0, names=("x", "y"))
    assert ceiling["per_class"] == pytest.approx({"x": 0.5, "y": 0.5})


def test_names_must_match_the_embeddings():
    with pytest.raises(ValueError, match="3 class embeddings for 2 names"):
        confidence_ceiling(torch.eye(3), scale=1.0, names=("a", "b"))
