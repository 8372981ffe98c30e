"""The confidence ceiling equals closed-form maxima on embeddings of known geometry."""

from __future__ import annotations

import math

import pytest
import torch

from ovseg.evaluation.confidence_ceiling import classes_reaching, confidence_ceiling


def test_two_classes_peak_along_their_difference():
    # At cosine ρ the best unit feature is (e_a − e_b)/‖e_a − e_b‖: a logit gap of scale·√(2 − 2ρ).
    rho = 0.8
    embeddings = torch.tensor([[1.0, 0.0], [rho, math.sqrt(1 - rho**2)]]) * 3.0  # norms do not matter
    ceiling = confidence_ceiling(embeddings, scale=10.0, names=("a", "b"))
    expected = 1.0 / (1.0 + math.exp(-10.0 * math.sqrt(2 - 2 * rho)))
    own_embedding = 1.0 / (1.0 + math.exp(-10.0 * (1 - rho)))  # the feature equal to e_a: a weaker bound
    assert ceiling["per_class"] == pytest.approx({"a": expected, "b": expected}, abs=1e-6)
    assert own_embedding < 0.95 < expected
    assert classes_reaching(ceiling, 0.95) == ["a", "b"] and classes_reaching(ceiling, 0.9999) == []
    assert ceiling["mean_cosine"] == pytest.approx(rho) and ceiling["max_cosine"] == pytest.approx(rho)
    assert ceiling["logit_scale"] == 10.0


def test_orthogonal_classes_peak_away_from_the_centroid():
    # C orthonormal classes: the best feature is e_c minus the centroid, a gap of scale·√(C/(C − 1)).
    ceiling = confidence_ceiling(torch.eye(3, 5), scale=4.0, names=("a", "b", "c"))
    expected = 1.0 / (1.0 + 2.0 * math.exp(-4.0 * math.sqrt(3 / 2)))
    assert ceiling["per_class"] == pytest.approx({"a": expected, "b": expected, "c": expected}, abs=1e-6)
    assert ceiling["mean_cosine"] == pytest.approx(0.0) and ceiling["max_cosine"] == pytest.approx(0.0)


def test_a_class_close_to_another_is_capped_below_a_lone_one():
    # a and b at 60 degrees, c orthogonal to both: c's ceiling is the highest, a's and b's are equal
    embeddings = torch.tensor([[1.0, 0.0, 0.0], [0.5, math.sqrt(3) / 2, 0.0], [0.0, 0.0, 1.0]])
    ceiling = confidence_ceiling(embeddings, scale=5.0, names=("a", "b", "c"))["per_class"]
    own_a = torch.tensor([5.0, 2.5, 0.0]).softmax(0)[0].item()  # the feature equal to e_a
    assert ceiling["a"] == pytest.approx(ceiling["b"], abs=1e-6)
    assert own_a < ceiling["a"] < ceiling["c"]
    two_class_c = 1.0 / (1.0 + math.exp(-5.0 * math.sqrt(2)))  # c against a alone: more than against a and b
    assert ceiling["c"] < two_class_c


def test_identical_classes_can_never_be_told_apart():
    ceiling = confidence_ceiling(torch.ones(2, 4), scale=100.0, names=("x", "y"))
    assert ceiling["per_class"] == pytest.approx({"x": 0.5, "y": 0.5})


def test_names_must_match_the_embeddings():
    with pytest.raises(ValueError, match="3 class embeddings for 2 names"):
        confidence_ceiling(torch.eye(3), scale=1.0, names=("a", "b"))
