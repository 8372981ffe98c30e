"""S-Seg's pseudo-masks: DINO (random weights) + K-Means, the colour source, the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ovseg.errors import OvsegUserError
from ovseg.methods.sseg.cache import CachedPseudoMasks, PseudoMaskCache, PseudoMaskSettings
from ovseg.methods.sseg.pseudo_masks import DinoPseudoMasks, PixelPseudoMasks, labels_to_masks
from ovseg.nn.dino import DinoFeatures

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def random_dino() -> DinoPseudoMasks:
    torch.manual_seed(0)
    return DinoPseudoMasks(k=8, pretrained=False, backend="torch")


def test_dino_pseudo_masks_give_k_masks_per_image_at_the_requested_size(random_dino):
    images = torch.randn(2, 3, 224, 224)
    labels = random_dino.cluster(images)
    assert labels.shape == (2, 28, 28)  # ViT-S/8 at 224 px: 28 × 28 patches
    masks = random_dino(images, (56, 56))
    assert len(masks) == 2
    for image_masks in masks:
        assert image_masks.shape == (8, 56, 56)  # K = 8 clusters, all non-empty on random images
        assert torch.equal(image_masks.sum(0), torch.ones(56, 56))  # a partition of the image
    assert not any(p.requires_grad for p in random_dino.parameters())


def test_dino_resizes_other_crops_to_its_input_size(random_dino):
    assert random_dino.cluster(torch.randn(1, 3, 64, 64)).shape == (1, 28, 28)


def test_dino_keys_are_the_last_blocks_attention_keys_and_the_model_stays_frozen():
    torch.manual_seed(0)
    tokens = DinoFeatures(pretrained=False, feature="tokens")
    torch.manual_seed(0)
    keys = DinoFeatures(pretrained=False, feature="keys")
    keys.train()
    assert not keys.vit.training
    seen = {}
    last = keys.vit.blocks[-1]
    last.register_forward_pre_hook(lambda module, args: seen.update(x=args[0]))
    images = torch.randn(1, 3, 64, 48)
    a, b = tokens(images), keys(images)
    assert a.shape == b.shape == (1, 8, 6, 384)
    expected = last.attn.qkv(last.norm1(seen["x"]))[:, 1:, 384:768]  # k of q | k | v, CLS dropped
    torch.testing.assert_close(b.reshape(1, 48, 384), expected)
    assert not torch.allclose(a, b)


def test_dino_loads_a_local_weights_file_and_names_bad_ones(tmp_path):
    torch.manual_seed(1)
    source = DinoFeatures(pretrained=False)
    path = tmp_path / "dino.safetensors"
    save_file({k: v.contiguous() for k, v in source.vit.state_dict().items()}, str(path))
    torch.manual_seed(2)
    loaded = DinoFeatures(weights=str(path))
    torch.testing.assert_close(loaded.vit.pos_embed, source.vit.pos_embed)
    dino_release = tmp_path / "dino_deitsmall8_pretrain.pth"  # DINO's own layout: a teacher dict
    torch.save({"teacher": {f"backbone.{k}": v for k, v in source.vit.state_dict().items()}}, dino_release)
    torch.testing.assert_close(DinoFeatures(weights=str(dino_release)).vit.cls_token, source.vit.cls_token)
    bad = tmp_path / "bad.pth"
    torch.save({"something": torch.zeros(1)}, bad)
    with pytest.raises(OvsegUserError, match="not a VisionTransformer DINO checkpoint"):
        DinoFeatures(weights=str(bad))
    with pytest.raises(OvsegUserError, match="does not exist"):
        DinoFeatures(weights=str(tmp_path / "missing.pth"))


def test_labels_to_masks_drops_empty_clusters_and_resizes():
    labels = torch.tensor([[[0, 0], [2, 2]]])  # cluster 1 and 3 absent
    (masks,) = labels_to_masks(labels, k=4, size=(4, 4))
    assert masks.shape == (2, 4, 4)
    assert masks[0, :2].eq(1).all() and masks[1, 2:].eq(1).all()


def test_pixel_source_separates_colours():
    image = torch.zeros(1, 3, 32, 32)
    image[:, 0, :, :16] = 1.0  # red left half, black right half
    normalised = (image - IMAGENET_MEAN) / IMAGENET_STD
    source = PixelPseudoMasks(k=2, grid=8, position_weight=0.1, backend="torch")
    (masks,) = source(normalised, (16, 16))
    assert masks.shape == (2, 16, 16)
    left = masks[:, :, :8].mean(dim=(1, 2))
    assert sorted(left.tolist()) == [0.0, 1.0]  # one mask is exactly the left half


def test_cache_round_trip_cuts_the_crop_and_falls_back_to_the_image_key(tmp_path):
    cache = PseudoMaskCache(tmp_path)
    cache.claim(PseudoMaskSettings(k=3))
    labels = np.zeros((4, 6), np.uint8)
    labels[:, 3:] = 2  # right half of a 60 × 40 image is cluster 2
    cache.save("coco/000001", labels, (60, 40))
    assert "coco/000001" in cache and not list(tmp_path.rglob("*.tmp"))
    reader = CachedPseudoMasks(str(tmp_path), k=3)
    boxes = torch.tensor([[0, 0, 40, 60], [0, 30, 40, 30]])  # whole image; right half only
    whole, right = reader(["coco/000001/7", "coco/000001"], boxes, (8, 8))
    assert whole.shape == (2, 8, 8) and whole[1, :, 4:].eq(1).all()
    assert right.shape == (1, 8, 8)  # one cluster in the crop
    with pytest.raises(OvsegUserError, match="no pseudo-mask for sample"):
        reader(["other/1"], boxes[:1], (8, 8))
    with pytest.raises(OvsegUserError, match="pseudo_mask_k 3"):
        CachedPseudoMasks(str(tmp_path), k=8)
    with pytest.raises(OvsegUserError, match="ovseg prepare pseudo-masks"):
        CachedPseudoMasks(str(tmp_path / "missing"), k=8)
    with pytest.raises(OvsegUserError, match="was built with"):
        cache.claim(PseudoMaskSettings(k=4))
