"""SegCLIP's model: CLIP parity with open_clip, the group module, the masked pass, any input size."""

from __future__ import annotations

import pytest
import torch

from ovseg.data.transforms import ClipTokenizer
from ovseg.methods.segclip.checkpoint import load_clip_weights
from ovseg.methods.segclip.grouping import SemanticGroup, straight_through_assignment
from ovseg.methods.segclip.model import SegCLIPModel
from ovseg.nn.clip import create_open_clip, open_clip_intermediates

TINY = dict(
    image_size=64,
    patch_size=8,
    vision_width=64,
    vision_layers=4,
    vision_heads=2,
    first_stage_layer=3,
    embed_dim=64,
    text_width=64,
    text_layers=2,
    text_heads=2,
    context_length=32,
    decoder_width=32,
    decoder_heads=2,
)
TINY_OPEN_CLIP = dict(
    embed_dim=64,
    quick_gelu=True,
    vision_cfg=dict(image_size=64, layers=4, width=64, patch_size=8, head_width=32),
    text_cfg=dict(context_length=32, vocab_size=49408, width=64, heads=2, layers=2),
)
PROMPTS = ["a photo of a cat.", "a dark red ball next to a star", "x"]


def tiny_model(**overrides) -> SegCLIPModel:
    torch.manual_seed(0)
    return SegCLIPModel(**{**TINY, **overrides})


def _parity(reference, model: SegCLIPModel, size: int, first_stage: int, context: int) -> None:
    images = torch.randn(2, 3, size, size)
    with torch.no_grad():
        ours = model.visual.first_stage(model.visual.embed(images)[0])  # (B, N, D)
        theirs = open_clip_intermediates(reference, images, first_stage)  # (B, N, D)
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
        tokens = ClipTokenizer(context)(PROMPTS)
        torch.testing.assert_close(
            model.encode_text(tokens), reference.encode_text(tokens), atol=1e-5, rtol=0
        )


def test_tiny_open_clip_parity_first_stage_and_text():
    torch.manual_seed(0)
    reference = create_open_clip("ViT-B-16", **TINY_OPEN_CLIP).eval()
    model = tiny_model(class_token=True, reconstruction=False).eval()
    load_clip_weights(model, reference.state_dict())
    _parity(reference, model, 64, 3, 32)


def test_release_layout_drops_the_class_token_before_the_blocks():
    """Without the class token, the first stage equals open_clip's blocks run on the patches alone."""
    torch.manual_seed(0)
    reference = create_open_clip("ViT-B-16", **TINY_OPEN_CLIP).eval()
    model = tiny_model(reconstruction=False).eval()
    load_clip_weights(model, reference.state_dict())
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        x = reference.visual._embeds(images)[:, 1:]  # (B, N, D) open_clip's embedding, class token cut
        for block in reference.visual.transformer.resblocks[:3]:
            x = block(x)
        ours = model.visual.first_stage(model.visual.embed(images)[0])
    torch.testing.assert_close(ours, x, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_vit_b16_open_clip_parity():
    torch.manual_seed(0)
    reference = create_open_clip("ViT-B-16").eval()  # GELU, random weights
    model = SegCLIPModel(quick_gelu=False, class_token=True, reconstruction=False).eval()
    load_clip_weights(model, reference.state_dict())
    _parity(reference, model, 224, 10, 77)


def test_every_patch_goes_to_exactly_one_center():
    model = tiny_model(reconstruction=False)
    images = torch.randn(3, 3, 64, 64)
    for train in (True, False):
        model.train(train)
        out = model.encode_image(images)
        assert out.hard.shape == (3, 8, 64)
        torch.testing.assert_close(out.hard.detach().sum(dim=1), torch.ones(3, 64))
        assert set(out.hard.detach().unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(out.hard.argmax(dim=1), out.soft.argmax(dim=1))  # eval: argmax of softmax


def test_gumbel_noise_only_in_training():
    logits = torch.randn(4, 8, 50)
    hard_eval, _ = straight_through_assignment(logits, 0.9, noise=False)
    torch.testing.assert_close(hard_eval.argmax(dim=1), logits.argmax(dim=1))
    torch.manual_seed(1)
    samples = {tuple(straight_through_assignment(logits, 0.9, noise=True)[0].argmax(1).flatten().tolist())}
    samples |= {tuple(straight_through_assignment(logits, 0.9, noise=True)[0].argmax(1).flatten().tolist())}
    assert len(samples) == 2, "training assignments are sampled"


def test_gradients_reach_centers_and_first_stage_through_the_straight_through_estimator():
    group = SemanticGroup(width=32, heads=2, num_centers=4, cross_layers=1).train()
    patches = torch.randn(2, 20, 32, requires_grad=True)
    out = group(patches)
    out.tokens.pow(2).sum().backward()
    # k_conv only acts through the assignment logits, so its gradient is the straight-through one.
    assert group.k_conv.weight.grad.abs().sum() > 0
    assert group.semantic_center.grad.abs().sum() > 0
    assert patches.grad.abs().sum() > 0

    model = tiny_model(reconstruction=False).train()
    model.encode_image(torch.randn(2, 3, 64, 64)).feature.sum().backward()
    assert model.visual.group.k_conv.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.visual.stage1.parameters())


def test_masked_and_unmasked_passes_share_weights():
    model = tiny_model().train()
    images = torch.randn(2, 3, 64, 64)
    masked = model.reconstruct(images, 0.75)
    assert masked.pixels.shape == (2, 64, 8 * 8 * 3)
    assert masked.masked.sum(dim=1).tolist() == [64 - 15, 64 - 15]  # int(65 * 0.25) - 1 visible
    assert masked.groups.hard.shape == (2, 8, 15)
    masked.pixels.pow(2).mean().backward()
    # one set of encoder weights: the masked pass trains the same first stage and group module
    assert model.visual.stage1[0].attn.in_proj_weight.grad.abs().sum() > 0
    assert model.visual.group.semantic_center.grad.abs().sum() > 0
    names = [name for name, _ in model.named_parameters()]
    assert not any(name.startswith("reconstruction.") and "stage1" in name for name in names)
    assert sum(1 for n in names if n.endswith("semantic_center")) == 1


def test_any_input_size_runs_and_the_path_is_never_chosen_by_length():
    model = tiny_model().eval()
    for size in [(64, 64), (40, 96), (16, 120)]:  # (16, 120): 2 × 15 = 15 patches, the masked count
        out = model.encode_image(torch.randn(1, 3, *size))
        assert out.grid == (size[0] // 8, size[1] // 8)
        assert out.group_features.shape == (1, 8, 64)
        assert out.soft.shape == (1, 8, (size[0] // 8) * (size[1] // 8))
    native = model.visual.patch_positions((8, 8))
    assert native.data_ptr() == model.visual.positional_embedding[1:].data_ptr()  # no resampling


def test_image_feature_is_max_over_group_tokens_before_ln_post_and_proj():
    model = tiny_model(reconstruction=False).eval()
    images = torch.randn(2, 3, 64, 64)
    out = model.encode_image(images)
    with torch.no_grad():
        groups = model.visual.group(model.visual.first_stage(model.visual.embed(images)[0]))
        x = groups.tokens
        for block in model.visual.stage3:
            x = block(x)
        expected = model.visual.ln_post(x.max(dim=1).values) @ model.visual.proj
    torch.testing.assert_close(out.feature, expected)
