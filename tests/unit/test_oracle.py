"""The pseudo-mask oracle: majority labelling against hand-computed figures, and the mask sources."""

from __future__ import annotations

import pytest
import torch

from ovseg.errors import OvsegUserError
from ovseg.oracle import majority_labels, oracle_miou
from ovseg.oracle.sources import MaskSettings, build_mask_source

X = 255  # ignored ground truth

# Two 4 × 4 images, 3 labels (0 background, 1, 2), hand-made masks.
GT_A = [[0, 0, 1, 1], [0, 0, 1, 1], [0, X, 2, 2], [0, 0, 2, 2]]
SEG_A = [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]]
PAINTED_A = [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 2, 2]]  # mask 1: four 1s beat two 2s
GT_B = [[X, X, X, 2], [X, X, 2, 2], [0, 0, 0, 0], [0, 0, 0, 0]]
SEG_B = [[5, 5, 5, 5], [5, 5, 5, 5], [7, 7, 7, 7], [7, 7, 7, 7]]
PAINTED_B = [[2, 2, 2, 2], [2, 2, 2, 2], [0, 0, 0, 0], [0, 0, 0, 0]]  # five ignored pixels never vote
# Confusion [gt, pred] over both images, ignored pixels dropped:
#   gt 0: 7 + 8 pixels, all predicted 0      → I0 = 15, P0 = 15, G0 = 15 → IoU 1
#   gt 1: 4 pixels predicted 1               → I1 = 4,  P1 = 4 + 2, G1 = 4 → IoU 4/6
#   gt 2: 2 predicted 1, 2 + 3 predicted 2   → I2 = 5,  P2 = 5, G2 = 7 → IoU 5/7
EXPECTED_IOU = [100.0, 100 * 4 / 6, 100 * 5 / 7]
EXPECTED_MIOU = 100 * 50 / 63  # (1 + 2/3 + 5/7) / 3
EXPECTED_AACC = 100 * 24 / 26


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.int64)


def test_each_mask_takes_its_majority_label_and_ignored_pixels_never_vote():
    assert torch.equal(majority_labels(_t(SEG_A), _t(GT_A), 3), _t(PAINTED_A))
    assert torch.equal(majority_labels(_t(SEG_B), _t(GT_B), 3), _t(PAINTED_B))


def test_ties_go_to_the_lower_label_and_a_fully_ignored_mask_gets_0():
    segments = _t([[0, 0, 1, 1]])
    assert torch.equal(majority_labels(segments, _t([[2, 1, X, X]]), 3), _t([[1, 1, 0, 0]]))
    out_of_range = _t([[2, 9, 2, 2]])  # 9 is no label: it never votes
    assert torch.equal(majority_labels(segments, out_of_range, 3), _t([[2, 2, 2, 2]]))


class FixedMasks:
    """A source that returns hand-made masks, in order."""

    def __init__(self, maps) -> None:
        self.maps = [_t(m) for m in maps]
        self.calls = 0

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.maps[self.calls - 1]


def _dataset(labels) -> list[dict]:
    return [{"image": torch.zeros(3, 4, 4, dtype=torch.uint8), "label": _t(label)} for label in labels]


def test_the_oracle_miou_equals_the_hand_computed_value():
    result = oracle_miou(FixedMasks([SEG_A, SEG_B]), _dataset([GT_A, GT_B]), label_names=("bg", "a", "b"))
    assert result["metrics"]["mIoU"] == pytest.approx(EXPECTED_MIOU)
    assert result["metrics"]["aAcc"] == pytest.approx(EXPECTED_AACC)
    assert result["metrics"]["IoU"] == pytest.approx(EXPECTED_IOU)
    assert result["per_class_IoU"]["b"] == pytest.approx(EXPECTED_IOU[2])
    assert result["num_images"] == 2 and result["masks_per_image"] == 3.0  # (4 + 2) / 2


def test_limit_stops_early_and_ground_truth_masks_score_100():
    perfect = oracle_miou(FixedMasks([GT_A]), _dataset([GT_A, GT_B]), limit=1, label_names=("bg", "a", "b"))
    assert perfect["num_images"] == 1 and perfect["metrics"]["mIoU"] == pytest.approx(100.0)


@pytest.mark.parametrize("name", ["pixel", "felzenszwalb"])
def test_weight_free_sources_give_ids_at_the_image_size(name):
    torch.manual_seed(0)
    image = (torch.rand(3, 37, 53) * 255).to(torch.uint8)
    ids = build_mask_source(name, MaskSettings(k=4, short_side=48))(image)
    assert ids.shape == (37, 53) and ids.dtype == torch.int64
    assert 1 <= len(ids.unique()) <= (4 if name == "pixel" else 37 * 53)


def test_dino_source_with_random_weights_keeps_the_aspect_ratio():
    torch.manual_seed(0)
    source = build_mask_source("dino", MaskSettings(k=3, short_side=32, dino_pretrained=False))
    ids = source((torch.rand(3, 30, 50) * 255).to(torch.uint8))
    assert ids.shape == (30, 50) and 1 <= len(ids.unique()) <= 3
    assert source.describe()["k"] == 3


def test_missing_dino_weights_are_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(OvsegUserError, match="--dino-weights FILE") as info:
        build_mask_source("dino", MaskSettings(dino_weights=str(tmp_path / "missing.safetensors")))
    assert "does not exist" in str(info.value)
    import timm

    def offline(*args, **kwargs):
        raise OSError("no internet")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(OvsegUserError, match=r"--dino-weights FILE.*huggingface\.co/timm"):
        build_mask_source("dino", MaskSettings())


def test_segclip_masks_need_a_checkpoint_and_unknown_sources_are_named():
    with pytest.raises(OvsegUserError, match="--ckpt FILE"):
        build_mask_source("segclip")
    with pytest.raises(OvsegUserError, match="Valid sources: dino, pixel, felzenszwalb, segclip"):
        build_mask_source("slic")
