"""SegCLIP's LightningModule: S = M·Ŝ segmentation, the release's rules, training step, recipe."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ovseg.data.catalog import get_dataset_spec
from ovseg.data.transforms import ClipTokenizer
from ovseg.errors import OvsegUserError
from ovseg.evaluation.inference import labels_from_scores
from ovseg.methods.segclip import SegCLIP
from ovseg.methods.segclip.optim import parameter_groups, warmup_cosine
from tests.unit.test_segclip_model import TINY

TINY_MODULE = {**TINY, "clip_pretrained": None}


@pytest.fixture(scope="module")
def module() -> SegCLIP:
    torch.manual_seed(0)
    return SegCLIP(**TINY_MODULE, dataset=get_dataset_spec("synthetic")).eval()


def _classes(module: SegCLIP, count: int = 5) -> torch.Tensor:
    torch.manual_seed(3)
    return F.normalize(torch.randn(count, 64), dim=-1)


def test_segment_is_membership_times_group_affinity(module):
    images = torch.randn(2, 3, 64, 64)
    classes = _classes(module)
    scores = module.segment(images, classes)
    assert scores.shape == (2, 5, 64, 64)
    with torch.no_grad():
        out = module.model.encode_image(images)
        groups = F.normalize(out.group_features, dim=-1)
        affinity = (module.model.logit_scale() * groups @ classes.T).softmax(-1)  # (B, L, C) Ŝ
        soft = F.interpolate(out.soft.reshape(2, 8, 8, 8), size=(64, 64), mode="bilinear")
        index = soft.argmax(dim=1)  # (B, H, W)
    expected = torch.stack([affinity[b][index[b]].permute(2, 0, 1) for b in range(2)])  # (B, C, H, W)
    torch.testing.assert_close(scores, expected)
    # probabilities: each pixel's scores are its group's class distribution
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(2, 64, 64))


@pytest.mark.parametrize("membership", ["patch", "soft"])
def test_patch_and_soft_membership(module, membership):
    module.membership = membership
    try:
        scores = module.segment(torch.randn(1, 3, 64, 64), _classes(module))
    finally:
        module.membership = "upsampled"
    assert scores.shape == (1, 5, 8, 8)
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(1, 8, 8))


def test_odd_sizes_are_padded_and_cropped(module):
    scores = module.segment(torch.randn(1, 3, 37, 70), _classes(module))
    assert scores.shape == (1, 5, 37, 70)


def _affinities(module: SegCLIP, images: torch.Tensor, classes: torch.Tensor):
    with torch.no_grad():
        out = module.model.encode_image(images)
        scale = module.model.logit_scale()
        logits = scale * F.normalize(out.group_features, dim=-1) @ classes.T  # (B, L, C)
        image_logits = scale * F.normalize(out.feature, dim=-1) @ classes.T  # (B, C)
    return logits, image_logits


def test_release_background_rule(module):
    images, classes = torch.randn(2, 3, 64, 64), _classes(module, 8)
    plain = module.segment(images, classes)  # rules off under the groupvit protocol
    module.segclip_rules = True
    try:
        ruled = module.segment(images, classes)
    finally:
        module.segclip_rules = None
    threshold = module.bg_threshold
    logits, _ = _affinities(module, images, classes)
    best = logits.softmax(-1).flatten(1).amax(dim=1)  # (B,) the best group affinity
    expected_bg = plain.amax(dim=1) < torch.minimum(best, torch.tensor(threshold))[:, None, None]
    assert torch.equal(labels_from_scores(ruled, threshold) == 0, expected_bg)
    assert torch.equal(ruled.argmax(dim=1), plain.argmax(dim=1))


def test_release_top_k_renormalisation_under_the_segclip_protocol():
    torch.manual_seed(0)
    module = SegCLIP(**TINY_MODULE, protocol="segclip", dataset=get_dataset_spec("synthetic")).eval()
    module.membership = "patch"
    images, classes = torch.randn(2, 3, 64, 64), _classes(module, 8)
    scores = module.segment(images, classes)  # (B, C, 8, 8)
    logits, image_logits = _affinities(module, images, classes)
    keep = torch.zeros_like(image_logits, dtype=torch.bool).scatter_(1, image_logits.topk(5).indices, True)
    affinity = logits.masked_fill(~keep[:, None], float("-inf")).softmax(-1) * logits.softmax(-1)  # (B, L, C)
    best = affinity.flatten(1).amax(dim=1)
    factor = (module.bg_threshold / best).clamp_min(1.0)  # (B,)
    with torch.no_grad():
        hard = module.model.encode_image(images).hard  # (B, L, N)
    expected = torch.einsum("bln,blc->bcn", hard, affinity).reshape(2, 8, 8, 8) * factor[:, None, None, None]
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
