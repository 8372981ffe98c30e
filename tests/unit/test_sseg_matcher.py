"""S-Seg's Hungarian matcher: optimal against brute force, K < N, no targets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ovseg.methods.sseg.matcher import HungarianMatcher, dice_cost, focal_cost, solve


def brute_force(cost: np.ndarray) -> float:
    """Smallest total over every injective map of the columns (targets) into the rows (predictions)."""
    rows, cols = cost.shape
    return min(
        sum(cost[p, c] for c, p in enumerate(perm)) for perm in itertools.permutations(range(rows), cols)
    )


@pytest.mark.parametrize(("n", "k"), [(1, 1), (3, 3), (5, 2), (6, 6), (7, 3), (8, 8), (8, 1)])
def test_solve_is_optimal_against_brute_force(n, k):
    rng = np.random.default_rng(n * 10 + k)
    for _ in range(5):
        cost = rng.random((n, k))
        rows, cols = solve(cost)
        assert len(rows) == len(cols) == k  # only K pairs with K <= N
        assert len(set(rows.tolist())) == k and sorted(cols.tolist()) == list(range(k))
        assert cost[rows, cols].sum() == pytest.approx(brute_force(cost))


def test_matcher_is_optimal_under_its_own_cost():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 5, 5, generator=generator)  # (B, N, h, w)
    targets = [
        (torch.rand(4, 5, 5, generator=generator) > 0.5).float(),
        (torch.rand(2, 5, 5, generator=generator) > 0.5).float(),
    ]
    matcher = HungarianMatcher()
    for (rows, cols), image_logits, target in zip(matcher(logits, targets), logits, targets, strict=True):
        cost = matcher.cost(image_logits, target).numpy()
        assert len(rows) == target.shape[0]
        assert cost[rows.numpy(), cols.numpy()].sum() == pytest.approx(brute_force(cost), rel=1e-6)


def test_a_prediction_equal_to_a_target_is_matched_to_it():
    targets = torch.zeros(3, 8, 8)
    targets[0, :4], targets[1, 4:, :4], targets[2, 4:, 4:] = 1, 1, 1
    logits = torch.full((1, 5, 8, 8), -8.0)
    logits[0, 4] = targets[0] * 16 - 8  # prediction 4 draws target 0, prediction 1 target 2
    logits[0, 1] = targets[2] * 16 - 8
    logits[0, 2] = targets[1] * 16 - 8
    (rows, cols), *_ = HungarianMatcher()(logits, [targets])
    assert dict(zip(cols.tolist(), rows.tolist(), strict=True)) == {0: 4, 1: 2, 2: 1}


def test_no_targets_gives_empty_matches():
    matches = HungarianMatcher()(torch.randn(2, 4, 3, 3), [torch.zeros(0, 3, 3), torch.ones(1, 3, 3)])
    assert matches[0][0].numel() == 0 and matches[0][1].numel() == 0
    assert matches[1][1].tolist() == [0] and matches[1][0].numel() == 1


def test_pairwise_costs_equal_the_losses_of_each_pair():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 10, generator=generator)
    targets = (torch.rand(2, 10, generator=generator) > 0.5).float()
    focal, dice = focal_cost(logits, targets), dice_cost(logits, targets)
    for i, j in itertools.product(range(3), range(2)):
        p, t = logits[i].sigmoid(), targets[j]
        ce = -(t * p.log() + (1 - t) * (1 - p).log())
        p_t = p * t + (1 - p) * (1 - t)
        expected = ((0.25 * t + 0.75 * (1 - t)) * (1 - p_t) ** 2 * ce).mean()
        assert float(focal[i, j]) == pytest.approx(float(expected), rel=1e-5)
        assert float(dice[i, j]) == pytest.approx(
            float(1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1))
        )
