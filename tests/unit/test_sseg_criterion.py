"""S-Seg's mask loss: hand-computed dice and focal values, unmatched predictions, no targets."""

from __future__ import annotations

import math

import pytest
import torch

from ovseg.methods.sseg.criterion import MaskCriterion, dice_loss, sigmoid_focal_loss


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_dice_loss_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    targets = torch.tensor([[1.0, 1.0, 0.0]])
    p = [sigmoid(0.0), sigmoid(2.0), sigmoid(-1.0)]
    expected = 1 - (2 * (p[0] + p[1]) + 1) / (sum(p) + 2 + 1)
    assert float(dice_loss(logits, targets, num_masks=1)) == pytest.approx(expected)
    assert float(dice_loss(logits.repeat(2, 1), targets.repeat(2, 1), num_masks=4)) == pytest.approx(
        expected / 2
    )


def test_focal_loss_by_hand():
    logits = torch.tensor([[1.0, -2.0]])
    targets = torch.tensor([[1.0, 0.0]])
    p1, p2 = sigmoid(1.0), sigmoid(-2.0)
    term1 = 0.25 * (1 - p1) ** 2 * -math.log(p1)  # target 1: alpha (1 - p)^gamma (-log p)
    term2 = 0.75 * p2**2 * -math.log(1 - p2)  # target 0: (1 - alpha) p^gamma (-log(1 - p))
    loss = sigmoid_focal_loss(logits, targets, num_masks=1, alpha=0.25, gamma=2.0)
    assert float(loss) == pytest.approx((term1 + term2) / 2)


def test_unmatched_predictions_get_no_mask_gradient():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 4, 4, generator=generator, requires_grad=True)  # (B, N, h, w)
    targets = [(torch.rand(k, 4, 4, generator=generator) > 0.5).float() for k in (3, 1)]
    criterion = MaskCriterion(aux_loss=False)
    losses = criterion(logits, [], targets)
    losses["mask"].backward()
    matches = criterion.matcher(logits.detach(), targets)
    for b, (rows, _) in enumerate(matches):
        matched = set(rows.tolist())
        for q in range(6):
            has_grad = bool(logits.grad[b, q].abs().sum() > 0)
            assert has_grad == (q in matched), (b, q)
    assert sum(len(rows) for rows, _ in matches) == 4  # K_b pairs per image, N - K_b left unmatched


def test_weights_and_normalisation_by_the_number_of_masks():
    logits = torch.randn(1, 4, 3, 3)
    target = [(torch.rand(2, 3, 3) > 0.5).float()]
    losses = MaskCriterion(dice_weight=1.0, focal_weight=20.0, aux_loss=False)(logits, [], target)
    assert float(losses["mask"]) == pytest.approx(float(losses["dice"] + 20 * losses["focal"]), rel=1e-6)
    assert float(losses["num_masks"]) == 2.0
    rows, cols = MaskCriterion().matcher(logits, target)[0]
    expected = dice_loss(logits[0, rows].flatten(1), target[0][cols].flatten(1), 2)
    assert float(losses["dice"]) == pytest.approx(float(expected))


def test_auxiliary_layers_are_matched_and_added():
    generator = torch.Generator().manual_seed(3)
    final, aux = (torch.randn(2, 5, 4, 4, generator=generator) for _ in range(2))
    targets = [(torch.rand(2, 4, 4, generator=generator) > 0.5).float()] * 2
    with_aux = MaskCriterion()(final, [aux, aux], targets)
    alone = MaskCriterion(aux_loss=False)(final, [], targets)
    aux_only = MaskCriterion(aux_loss=False)(aux, [], targets)
    assert {"dice_0", "focal_0", "dice_1", "focal_1"} <= set(with_aux)
    assert float(with_aux["mask"]) == pytest.approx(float(alone["mask"] + 2 * aux_only["mask"]), rel=1e-5)


def test_no_pseudo_masks_at_all_gives_zero_loss_and_zero_gradient():
    logits = torch.randn(2, 4, 3, 3, requires_grad=True)
    aux = torch.randn(2, 4, 3, 3, requires_grad=True)
    losses = MaskCriterion()(logits, [aux], [torch.zeros(0, 3, 3), torch.zeros(0, 3, 3)])
    assert losses["mask"].item() == 0.0
    losses["mask"].backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) == 0.0


def _two_process_worker(rank: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    generator = torch.Generator().manual_seed(rank)
    logits = torch.randn(1, 4, 3, 3, generator=generator)
    targets = [(torch.rand(3 if rank == 0 else 1, 3, 3, generator=generator) > 0.5).float()]
    losses = MaskCriterion(aux_loss=False)(logits, [], targets)
    saved = {"num_masks": losses["num_masks"], "dice": losses["dice"], "logits": logits, "targets": targets}
    torch.save(saved, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


def test_masks_are_counted_over_all_processes(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_two_process_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for rank, local in ((0, 3), (1, 1)):
        saved = torch.load(tmp_path / f"rank{rank}.pt")
        assert float(saved["num_masks"]) == 2.0  # (3 + 1) masks / 2 processes
        alone = MaskCriterion(aux_loss=False)(saved["logits"], [], saved["targets"])
        assert float(saved["dice"]) == pytest.approx(float(alone["dice"]) * local / 2)
