"""S-Seg's MaskFormer and LightningModule on tiny configurations (CPU, about a second each)."""

from __future__ import annotations

import pytest
import torch

from ovseg.data.catalog import get_dataset_spec
from ovseg.data.transforms import ClipTokenizer
from ovseg.errors import OvsegUserError
from ovseg.methods.sseg import SSeg
from ovseg.methods.sseg.backbone import TimmBackbone
from ovseg.methods.sseg.maskformer import MaskFormer

TINY = dict(
    backbone="test_convnext",
    conv_dim=16,
    mask_dim=16,
    hidden_dim=16,
    num_queries=6,
    decoder_layers=2,
    decoder_heads=2,
    decoder_ffn_dim=32,
    embed_dim=8,
    projection_dim=16,
    text_width=16,
    text_layers=1,
    text_heads=2,
    context_length=16,
    pseudo_masks="pixel",
    pseudo_mask_k=3,
    pixel_grid=8,
)


def tiny_sseg(**overrides) -> SSeg:
    torch.manual_seed(0)
    return SSeg(**{**TINY, **overrides}, dataset=get_dataset_spec("synthetic"))


def pair_batch(batch: int = 4, size: int = 32) -> dict:
    generator = torch.Generator().manual_seed(1)
    captions = ["a photo of a red ball", "a box", "a star next to a ring", "a heart"][:batch]
    return {
        "image": torch.randn(batch, 3, size, size, generator=generator),
        "text": ClipTokenizer(16)(captions),
        "caption": captions,
        "crop_box": torch.tensor([[0, 0, size, size]] * batch),
        "key": [f"synthetic/{i}" for i in range(batch)],
    }


def test_maskformer_outputs_and_auxiliary_layers():
    torch.manual_seed(0)
    sizes = ("backbone", "conv_dim", "mask_dim", "hidden_dim", "num_queries")
    model = MaskFormer(**{k: TINY[k] for k in sizes})
    out = model(torch.randn(2, 3, 64, 64))
    assert out.pred_masks.shape == (2, 6, 16, 16)  # stride 4
    assert out.queries.shape == (2, 6, TINY["hidden_dim"])
    assert model.mask_features(out.queries).shape == (2, 6, 256)
    assert len(out.aux_masks) == 6  # before the first layer and after layers 1..5 of 6


def test_image_embedding_projects_the_mean_query_not_the_mean_of_projections():
    """S-Seg §3: mean of the N query embeddings → 2-layer MLP (not linear: the order matters)."""
    torch.manual_seed(0)
    sizes = ("backbone", "conv_dim", "mask_dim", "hidden_dim", "num_queries")
    model = MaskFormer(**{k: TINY[k] for k in sizes}).eval()  # BatchNorm on its running statistics
    queries = torch.randn(2, 6, TINY["hidden_dim"])
    with torch.no_grad():
        image = model.image_embedding(queries)  # (2, 256)
        torch.testing.assert_close(image, model.projection(queries.mean(1)))
        mean_of_features = model.mask_features(queries).mean(1)  # (2, 256)
    assert not torch.allclose(image, mean_of_features, atol=1e-3)


def test_swin_backbone_gives_channels_first_maps_at_any_size():
    backbone = TimmBackbone("swin_small_patch4_window7_224")
    maps = backbone(torch.randn(1, 3, 96, 64))
    assert [tuple(m.shape[1:]) for m in maps] == [(96, 24, 16), (192, 12, 8), (384, 6, 4), (768, 3, 2)]
    assert backbone.strides == [4, 8, 16, 32]


def test_training_step_returns_a_loss_that_reaches_every_part():
    model = tiny_sseg()
    model.log_dict = model.log = lambda *args, **kwargs: None
    loss = model.training_step(pair_batch(), 0)
    loss.backward()
    assert torch.isfinite(loss)
    for name in (
        "model.backbone",
        "model.decoder.mask_embed",
        "model.projection",
        "text_encoder",
        "logit_scale",
    ):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name)]
        assert grads and all(g is not None for g in grads), name


def test_a_training_batch_of_one_image_is_refused_with_the_fix():
    model = tiny_sseg()
    model.log_dict = model.log = lambda *args, **kwargs: None
    with pytest.raises(OvsegUserError, match=r"at least 2 images per process.*--data\.batch_size"):
        model.training_step(pair_batch(batch=1), 0)


def test_segment_scores_are_the_class_weighted_sum_of_mask_probabilities():
    model = tiny_sseg(protocol="groupvit-plain").eval()  # no class filter: the plain Σ_q p_q(c)·σ(m_q)
    images = torch.randn(2, 3, 32, 32)
    classes = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    with torch.no_grad():
        scores = model.segment(images, classes)
        out = model.model(images)
        probs = model.mask_class_logits(model.model.mask_features(out.queries), classes).softmax(
            -1
        )  # (B, N, C)
        masks = torch.nn.functional.interpolate(out.pred_masks.sigmoid(), size=(32, 32), mode="bilinear")
    assert scores.shape == (2, 5, 32, 32)  # the masks are resized to the window before the rules
    expected = (probs[0, :, 2, None, None] * masks[0]).sum(0)  # class 2 of image 0
    torch.testing.assert_close(scores[0, 2], expected)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 6))
    normalised = tiny_sseg(score_norm="masks", protocol="groupvit-plain").eval()
    with torch.no_grad():
        total = normalised.segment(images, classes).sum(1)  # a distribution over classes per pixel
    torch.testing.assert_close(total, torch.ones_like(total))
    assert model.classify_images(images, classes).shape == (2, 5)


def test_encode_text_gives_one_feature_per_prompt():
    model = tiny_sseg().eval()
    assert model.encode_text(["a photo of a ball.", "a photo of a box."]).shape == (2, 8)


def test_weights_file_round_trip_and_mismatch(tmp_path):
    source = tiny_sseg()
    path = tmp_path / "sseg.pt"
    torch.save(source.state_dict(), path)
    torch.manual_seed(5)
    loaded = SSeg(**TINY, weights=str(path))
    for (name, a), (_, b) in zip(source.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    with pytest.raises(OvsegUserError, match="does not fit this S-Seg configuration"):
        SSeg(**{**TINY, "num_queries": 7}, weights=str(path))
    torch.save({"unrelated": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(OvsegUserError, match="holds no S-Seg weights"):
        SSeg(**TINY, weights=str(tmp_path / "other.pt"))


def test_evaluation_settings_stay_out_of_the_checkpoint_hyperparameters():
    model = tiny_sseg(protocol="tcl", bg_threshold=0.3)
    assert "protocol" not in model.hparams and "bg_threshold" not in model.hparams
    assert model.hparams.num_queries == 6 and model.bg_threshold_override == 0.3


def test_bad_options_name_the_valid_values():
    with pytest.raises(OvsegUserError, match="dino, pixel"):
        tiny_sseg(pseudo_masks="sam")
    with pytest.raises(OvsegUserError, match="auto, torch, faiss"):
        tiny_sseg(kmeans_backend="sklearn")
    with pytest.raises(OvsegUserError, match="none, masks"):
        tiny_sseg(score_norm="max")


def test_a_local_hugging_face_text_model_replaces_the_transformer(tmp_path):
    import transformers

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "red", "ball", "box", "star"]
    config = transformers.BertConfig(
        vocab_size=len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    transformers.BertModel(config).save_pretrained(tmp_path / "bert")
    transformers.BertTokenizer(vocab={w: i for i, w in enumerate(words)}).save_pretrained(tmp_path / "bert")
    model = tiny_sseg(text_model=str(tmp_path / "bert"), text_pooling="mean")
    model.log_dict = model.log = lambda *args, **kwargs: None
    model.training_step(pair_batch(), 0).backward()
    assert model.text_encoder.model.embeddings.word_embeddings.weight.grad is not None
    assert model.eval().encode_text(["a photo of a ball."]).shape == (1, 8)


@pytest.mark.slow
def test_paper_configuration_steps_with_dino_pseudo_masks(tmp_path):
    from safetensors.torch import save_file

    from ovseg.nn.dino import DinoFeatures

    torch.manual_seed(0)
    weights = tmp_path / "dino.safetensors"
    save_file(
        {k: v.contiguous() for k, v in DinoFeatures(pretrained=False).vit.state_dict().items()}, str(weights)
    )
    model = SSeg(dino_weights=str(weights))  # Swin-S, 6 layers, 64 queries, K = 8: the paper's defaults
    model.log_dict = model.log = lambda *args, **kwargs: None
    batch = pair_batch(batch=2, size=224)
    batch["text"] = ClipTokenizer(77)(batch["caption"])
    loss = model.training_step(batch, 0)
    loss.backward()
    out = model.model(batch["image"])
    features = model.model.mask_features(out.queries)  # (B, N, D)
    assert out.pred_masks.shape == (2, 64, 56, 56) and features.shape == (2, 64, 256)
