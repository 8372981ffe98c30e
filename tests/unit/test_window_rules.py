"""The protocol's rules on tiny region scores whose answers are worked out by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from ovseg.data.catalog import get_dataset_spec
from ovseg.evaluation.protocols import get_protocol
from ovseg.evaluation.regions import RegionScores
from ovseg.evaluation.window_rules import class_affinity, labels_from_window_scores, window_scores
from ovseg.methods.base import OpenVocabSegmenter

GROUPVIT, PLAIN, TCL = get_protocol("groupvit"), get_protocol("groupvit-plain"), get_protocol("tcl")


def _log(*probs: float) -> list[float]:
    return [math.log(p) for p in probs]


def two_groups() -> RegionScores:
    """Group 0 owns the top row (class probabilities .5/.25/.25), group 1 the bottom row (.8/.1/.1)."""
    logits = torch.tensor([[_log(0.5, 0.25, 0.25), _log(0.8, 0.1, 0.1)]])  # (1, 2, 3)
    membership = torch.zeros(1, 2, 2, 2)  # (1, R, h, w)
    membership[0, 0, 0], membership[0, 1, 1] = 1.0, 1.0
    return RegionScores(logits=logits, membership=membership, image_probs=torch.tensor([[0.6, 0.3, 0.1]]))


def _labels(regions: RegionScores, protocol, threshold: float) -> list:
    scores = window_scores(regions, protocol, threshold, (2, 2))
    return labels_from_window_scores(scores, protocol, threshold).tolist()


def test_three_classes_keep_all_and_the_product_squares_the_probabilities():
    affinity = class_affinity(two_groups(), top_k=5, combine="product")  # k capped at 3 classes
    expected = torch.tensor([[[0.25, 0.0625, 0.0625], [0.64, 0.01, 0.01]]])
    torch.testing.assert_close(affinity, expected)
    torch.testing.assert_close(class_affinity(two_groups(), 5, "filtered"), expected.sqrt())


def test_window_rule_never_makes_the_best_region_background():
    # bar = min(.95, largest affinity .64): group 0 (best .25) is background, group 1 (.64) is not
    assert _labels(two_groups(), GROUPVIT, 0.95) == [[[0, 0], [1, 1]]]
    # a bar below both: both keep their class
    assert _labels(two_groups(), GROUPVIT, 0.2) == [[[1, 1], [1, 1]]]
    # the plain rule: .5 and .8 are both below .95, so all background
    assert _labels(two_groups(), PLAIN, 0.95) == [[[0, 0], [0, 0]]]
    assert _labels(two_groups(), PLAIN, 0.6) == [[[0, 0], [1, 1]]]


def test_the_largest_affinity_counts_a_group_that_owns_no_pixel():
    regions = two_groups()
    logits = torch.cat([regions.logits, torch.tensor([[_log(0.98, 0.01, 0.01)]])], dim=1)  # (1, 3, 3)
    membership = torch.cat([regions.membership, torch.zeros(1, 1, 2, 2)], dim=1)  # group 2: no pixel
    empty_best = RegionScores(logits=logits, membership=membership, image_probs=regions.image_probs)
    # bar = min(.95, .98² = .9604) = .95: both owned groups (.25, .64) are background
    assert _labels(empty_best, GROUPVIT, 0.95) == [[[0, 0], [0, 0]]]
    # from the pixel scores alone the bar would have been .64 and the bottom row kept
    scores = window_scores(regions, GROUPVIT, 0.95, (2, 2))
    assert scores[0, 1:].amax().item() == pytest.approx(0.64)


def test_top_k_filter_renormalises_over_the_kept_classes():
    # six classes, image ranks class 5 last: it is dropped, the others renormalised, times the plain
    probs = torch.tensor([[[0.3, 0.1, 0.1, 0.1, 0.1, 0.3]]])  # (1, 1, 6)
    image = torch.tensor([[0.3, 0.2, 0.2, 0.15, 0.1, 0.05]])
    regions = RegionScores(logits=probs.log(), membership=torch.ones(1, 1, 1, 1), image_probs=image)
    affinity = class_affinity(regions, top_k=5, combine="product")
    kept = [0.3, 0.1, 0.1, 0.1, 0.1]  # mass .7
    expected = torch.tensor([[[*(p / 0.7 * p for p in kept), 0.0]]])  # (1, 1, 6)
    torch.testing.assert_close(affinity, expected)
    # probabilities instead of logits give the same renormalisation
    as_probs = RegionScores(probs=probs, membership=torch.ones(1, 1, 1, 1), image_probs=image)
    torch.testing.assert_close(class_affinity(as_probs, 5, "product"), expected)


def _float32_trap(threshold: float) -> float:
    """An fp32 affinity a < threshold with fp32(a · (threshold / a)) < fp32(threshold): the old scaling
    of scores by threshold / best put the best region one ulp below the threshold."""
    bar = torch.tensor(threshold, dtype=torch.float32)
    candidates = torch.linspace(0.2, threshold, 20001, dtype=torch.float32)[:-1]  # (N,)
    scaled = candidates * (bar / candidates)  # (N,) what the old rule compared with the threshold
    trapped = candidates[scaled < bar]
    assert trapped.numel() > 0, "no fp32 value hits the rounding edge; the test would prove nothing"
    return float(trapped[0])


@pytest.mark.parametrize("threshold", [0.8, 0.25, 0.65, 0.95])
def test_a_best_affinity_at_the_rounding_edge_keeps_its_class(threshold):
    best = _float32_trap(threshold)  # above 0.2, so above the other five classes' (1 − best) / 5
    probs = torch.tensor([[[best, *[(1.0 - best) / 5] * 5]]], dtype=torch.float32)  # (1, 1, 6)
    regions = RegionScores(probs=probs, membership=torch.ones(1, 1, 2, 2), image_probs=probs[:, 0])
    no_filter = GROUPVIT.override(top_k_classes=0)
    # the window's best region is never background: every pixel keeps class 0 (label 1)
    assert _labels(regions, no_filter, threshold) == [[[1, 1], [1, 1]]]


def test_constant_channel_is_the_threshold_and_wins_ties():
    probs = torch.tensor([[[0.4, 0.6], [0.3, 0.7]]])  # (1, R=2 pixels, C=2)
    regions = RegionScores(probs=probs, grid=(1, 2), image_probs=probs.mean(1))
    scores = window_scores(regions, TCL, 0.6, (1, 2))
    torch.testing.assert_close(scores[0, 0], torch.full((1, 2), 0.6))  # the constant channel
    # pixel 0: best .6 ties the channel → background; pixel 1: .7 > .6 → class 1 (label 2)
    assert labels_from_window_scores(scores, TCL, 0.6).tolist() == [[[0, 2]]]


class _Windows(OpenVocabSegmenter):
    """Pixel regions read off the (already normalised) input: channel c is class c's probability."""

    def build_class_embeddings(self) -> torch.Tensor:
        return torch.zeros(6, 1)

    def regions(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> RegionScores:
        return RegionScores.from_pixels(images, image_probs=images.mean(dim=(2, 3)))


def _by_hand(probs: torch.Tensor, threshold: float, crop: int, stride: int) -> torch.Tensor:
    """The release's loop, written out: per window top-5 product, background channel, average, argmax."""
    _, classes, height, width = probs.shape
    total = torch.zeros(1 + classes, height, width, dtype=torch.float64)
    count = torch.zeros(height, width, dtype=torch.float64)
    lefts = list(range(0, width - crop + 1, stride))
    assert lefts[-1] + crop == width
    for left in lefts:
        window = probs[0, :, :, left : left + crop]  # (C, h, w)
        image = window.mean(dim=(1, 2))  # (C,)
        kept = sorted(range(classes), key=lambda c: -float(image[c]))[:5]
        out = torch.zeros(1 + classes, height, crop, dtype=torch.float64)
        largest = 0.0
        for y in range(height):
            for x in range(crop):
                p = window[:, y, x].double()
                mass = sum(float(p[c]) for c in kept)
                for c in kept:
                    out[1 + c, y, x] = float(p[c]) / mass * float(p[c])
                largest = max(largest, float(out[1:, y, x].max()))
        bar = min(threshold, largest)
        out[0] = (out[1:].amax(dim=0) < bar).double()
        total[:, :, left : left + crop] += out
        count[:, left : left + crop] += 1
    return (total / count).argmax(dim=0)


def test_overlapping_windows_with_different_top_5_sets():
    torch.manual_seed(0)
    probs = torch.rand(1, 6, 4, 12)
    probs[:, 5, :, :4] = 0.0  # class 5 absent on the left: the left window drops it
    probs[:, 0, :, 8:] = 0.0  # class 0 absent on the right: the right window drops it
    probs = probs / probs.sum(dim=1, keepdim=True)  # (1, 6, 4, 12)
    spec = replace(get_dataset_spec("synthetic"), class_names=tuple(f"c{i}" for i in range(6)))
    model = _Windows(dataset=spec, mode="slide", crop=8, stride=4, bg_threshold=0.3).eval()  # native size
    labels = model.predict_labels(probs, (4, 12))[0]  # windows at x = 0 and 4: 4 shared columns
    expected = _by_hand(probs, 0.3, crop=8, stride=4)
    assert torch.equal(labels, expected)
    assert labels.eq(0).any() and labels.ne(0).any()  # both background and classes occur
