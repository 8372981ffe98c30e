"""SegCLIP's LightningModule: S = M·Ŝ segmentation, the release's rules, training step, recipe."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ovseg.data.catalog import get_dataset_spec
from ovseg.data.transforms import ClipTokenizer
from ovseg.errors import OvsegUserError
from ovseg.methods.segclip import SegCLIP
from ovseg.methods.segclip.optim import parameter_groups, warmup_cosine
from tests.unit.test_segclip_model import TINY

TINY_MODULE = {**TINY, "clip_pretrained": None}


@pytest.fixture(scope="module")
def module() -> SegCLIP:
    """Without the class filter: its scores are the plain S = M·Ŝ."""
    torch.manual_seed(0)
    return SegCLIP(**TINY_MODULE, dataset=get_dataset_spec("synthetic"), protocol="groupvit-plain").eval()


def _classes(module: SegCLIP, count: int = 5) -> torch.Tensor:
    torch.manual_seed(3)
    return F.normalize(torch.randn(count, 64), dim=-1)


def _expected_regions(module: SegCLIP, images: torch.Tensor, classes: torch.Tensor):
    """The release's group logits, image probabilities and one-hot membership, by hand."""
    batch = images.shape[0]
    with torch.no_grad():
        out = module.model.encode_image(images)
        scale = module.model.logit_scale()
        logits = (F.normalize(out.group_features, dim=-1) @ classes.T) * scale  # (B, L, C)
        image_probs = ((F.normalize(out.feature, dim=-1) @ classes.T) * scale).softmax(-1)  # (B, C)
        soft = F.interpolate(out.soft.reshape(batch, 8, 8, 8), size=images.shape[-2:], mode="bilinear")
        index = soft.argmax(dim=1)  # (B, H, W)
    return logits, image_probs, index


def test_regions_are_the_groups_with_the_release_membership(module):
    images, classes = torch.randn(2, 3, 64, 64), _classes(module)
    regions = module.regions(images, classes)
    logits, image_probs, index = _expected_regions(module, images, classes)
    torch.testing.assert_close(regions.logits, logits)
    torch.testing.assert_close(regions.image_probs, image_probs)
    assert torch.equal(regions.membership, F.one_hot(index, 8).permute(0, 3, 1, 2).float())


def test_segment_is_membership_times_group_affinity(module):
    images = torch.randn(2, 3, 64, 64)
    classes = _classes(module)
    scores = module.segment(images, classes)
    assert scores.shape == (2, 5, 64, 64)
    logits, _, index = _expected_regions(module, images, classes)
    affinity = logits.softmax(-1)  # (B, L, C) Ŝ
    expected = torch.stack([affinity[b][index[b]].permute(2, 0, 1) for b in range(2)])  # (B, C, H, W)
    torch.testing.assert_close(scores, expected)
    # probabilities: each pixel's scores are its group's class distribution
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(2, 64, 64))


@pytest.mark.parametrize("membership", ["patch", "soft"])
def test_patch_and_soft_membership(module, membership):
    module.membership = membership
    try:
        regions = module.regions(torch.randn(1, 3, 64, 64), _classes(module))
        scores = module.segment(torch.randn(1, 3, 64, 64), _classes(module))
    finally:
        module.membership = "upsampled"
    assert regions.membership.shape == (1, 8, 64, 64)  # the patch grid, resized to the window
    assert scores.shape == (1, 5, 64, 64)
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(1, 64, 64))


def test_odd_sizes_are_padded_and_cropped(module):
    scores = module.segment(torch.randn(1, 3, 37, 70), _classes(module))
    assert scores.shape == (1, 5, 37, 70)


def test_top_k_product_under_the_segclip_protocol():
    torch.manual_seed(0)
    module = SegCLIP(**TINY_MODULE, protocol="segclip", dataset=get_dataset_spec("synthetic")).eval()
    images, classes = torch.randn(2, 3, 64, 64), _classes(module, 8)
    scores = module.segment(images, classes)  # (B, C, 64, 64)
    logits, image_probs, index = _expected_regions(module, images, classes)
    keep = torch.zeros_like(image_probs, dtype=torch.bool).scatter_(1, image_probs.topk(5).indices, True)
    affinity = logits.masked_fill(~keep[:, None], float("-inf")).softmax(-1) * logits.softmax(-1)  # (B, L, C)
    expected = torch.stack([affinity[b][index[b]].permute(2, 0, 1) for b in range(2)])  # (B, C, H, W)
    torch.testing.assert_close(scores, expected)
    assert (scores.amax(dim=(2, 3)) > 0).sum(dim=1).le(5).all()  # only the top-5 classes score


def test_classify_images_gives_probabilities(module):
    probs = module.classify_images(torch.randn(3, 3, 64, 64), _classes(module))
    assert probs.shape == (3, 5)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(3))


def _batch(size: int = 4, superpixels: bool = True) -> dict:
    torch.manual_seed(0)
    batch = {
        "image": torch.randn(size, 3, 64, 64),
        "text": ClipTokenizer(32)([f"a photo of {i} balls" for i in range(size)]),
    }
    if superpixels:
        batch["superpixels"] = torch.randint(0, 6, (size, 64, 64))
    return batch


def test_training_step_needs_superpixels_when_the_loss_is_on():
    module = SegCLIP(**TINY_MODULE)
    with pytest.raises(OvsegUserError, match="superpixels: true"):
        module.training_step(_batch(superpixels=False), 0)
    off = SegCLIP(**TINY_MODULE, superpixel_weight=0.0, reconstruction_weight=0.0)
    assert off.model.reconstruction is None
    loss = off.training_step(_batch(superpixels=False), 0)
    assert loss.ndim == 0 and loss.requires_grad


def test_parameter_groups_follow_the_release():
    module = SegCLIP(**TINY_MODULE)
    groups = {g["name"]: g for g in parameter_groups(module.model, 4e-6, 4e-3, 0.05)}
    names = {name: g["name"] for g in groups.values() for name in g["param_names"]}
    assert groups["clip"]["lr"] == 4e-6 and groups["new"]["lr"] == 4e-3
    assert groups["clip_no_decay"]["weight_decay"] == 0.0 and groups["new"]["weight_decay"] == 0.05
    assert names["visual.stage1.0.attn.in_proj_weight"] == "clip"
    assert names["text.resblocks.1.mlp.c_fc.weight"] == "clip"
    assert names["logit_scale.log_scale"] == "clip_no_decay"
    assert names["visual.stage3.0.attn.in_proj_weight"] == "new"
    assert names["visual.proj"] == "new"
    assert names["visual.group.semantic_center"] == "new_no_decay"
    assert names["visual.group.k_conv.weight"] == "new"
    assert names["reconstruction.decoder.decoder_blocks.0.attn.qkv.weight"] == "new"
    assert names["reconstruction.decoder.mask_token"] == "new_no_decay"
    assert names["visual.ln_post.weight"] == "new_no_decay"
    assert names["text.resblocks.0.attn.in_proj_bias"] == "clip_no_decay"
    frozen = {
        "visual.conv1.weight",
        "visual.positional_embedding",
        "visual.ln_pre.weight",
        "visual.class_embedding",
    }
    frozen |= {"text.token_embedding.weight", "text.positional_embedding"}
    assert frozen.isdisjoint(names)
    assert all(not p.requires_grad for n, p in module.model.named_parameters() if n in frozen)


def test_warmup_then_cosine():
    factor = warmup_cosine(100, 0.15)
    assert factor(0) == pytest.approx(1 / 15) and factor(14) == pytest.approx(1.0)
    assert factor(15) == pytest.approx(1.0)
    assert factor(15 + 85 // 2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 42 / 85)))
    assert factor(100) == pytest.approx(0.0)


def test_initial_temperature_sets_the_learned_logit_scale():
    assert SegCLIP(**TINY_MODULE).model.logit_scale().item() == pytest.approx(1 / 0.07)  # CLIP's default
    colder = SegCLIP(**TINY_MODULE, init_temperature=0.02).model.logit_scale
    assert colder().item() == pytest.approx(50.0) and colder.log_scale.requires_grad
