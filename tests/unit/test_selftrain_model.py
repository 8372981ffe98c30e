"""S-Seg+'s SelfTrain: UperNet shapes, cross-entropy's ignore label, background as a class, weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from ovseg.data.catalog import get_dataset_spec
from ovseg.data.seg_augment import RandomScaleCropFlip
from ovseg.errors import OvsegUserError
from ovseg.evaluation.regions import RegionScores
from ovseg.methods.base import OpenVocabSegmenter
from ovseg.methods.selftrain import ClassMismatchError, SelfTrain
from ovseg.methods.selftrain.backbone import ViTFeatures
from ovseg.methods.selftrain.model import SegLogits, UperNetViT
from ovseg.methods.selftrain.optim import param_groups, warmup_poly

TINY_VIT = {"img_size": 32, "patch_size": 8, "depth": 4, "embed_dim": 32, "num_heads": 2}
TINY = dict(
    backbone="vit_tiny_patch16_224",
    backbone_pretrained=False,
    backbone_kwargs=TINY_VIT,
    out_indices=(0, 1, 2, 3),
    channels=16,
    aux_channels=8,
)
SYNTHETIC = get_dataset_spec("synthetic")  # background + 8 classes


pytestmark = pytest.mark.usefixtures("one_compute_thread")


class FixedLogits(nn.Module):
    """Stands in for UperNetViT: returns the same logits for any input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, images: torch.Tensor) -> SegLogits:
        return SegLogits(self.logits.expand(images.shape[0], -1, -1, -1), None)


def test_upernet_shapes_train_and_eval():
    torch.manual_seed(0)
    net = UperNetViT(5, **{k: v for k, v in TINY.items()})
    images = torch.randn(2, 3, 32, 48)  # a 4 × 6 patch grid
    levels = net.neck(net.backbone(images))
    assert [tuple(x.shape) for x in levels] == [(2, 32, 16, 24), (2, 32, 8, 12), (2, 32, 4, 6), (2, 32, 2, 3)]
    output = net.train()(images)
    assert output.logits.shape == (2, 5, 16, 24)  # stride p / 4
    assert output.aux_logits.shape == (2, 5, 4, 6)  # the auxiliary head on the stride-p level
    assert net.eval()(images).aux_logits is None


def test_segment_returns_probabilities_with_background_first():
    model = SelfTrain(dataset=SYNTHETIC, **TINY).eval()
    assert model.num_outputs == 9 and model.predicts_background()
    embeddings = model.build_class_embeddings()
    assert embeddings.tolist() == list(range(8))  # indices, no text encoder
    scores = model.segment(model.normalize(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)), embeddings)
    assert scores.shape == (1, 9, 16, 16)
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(1, 16, 16))
    with pytest.raises(OvsegUserError, match="closed-vocabulary"):
        model.encode_text(["a ball"])


def test_cross_entropy_ignores_255():
    model = SelfTrain(dataset=SYNTHETIC, **TINY)
    torch.manual_seed(1)
    logits = torch.randn(1, 9, 4, 4)
    model.model = FixedLogits(logits)
    labels = torch.randint(0, 9, (2, 4, 4))
    labels[0, :2] = 255
    labels[1, :, 3] = 255
    loss = model.loss(torch.zeros(2, 3, 4, 4), labels)["total"]
    log_probs = logits[0].log_softmax(dim=0)  # (9, 4, 4)
    valid = [(b, y, x) for b in range(2) for y in range(4) for x in range(4) if labels[b, y, x] != 255]
    expected = -sum(log_probs[labels[b, y, x], y, x] for b, y, x in valid) / len(valid)
    torch.testing.assert_close(loss, expected)
    flipped = torch.where(labels == 255, 255, (labels + 1) % 9)
    assert not torch.isclose(model.loss(torch.zeros(2, 3, 4, 4), flipped)["total"], loss)
    everywhere = torch.where(labels == 255, (labels + 4) % 9, labels)  # the ignored pixels labelled
    assert not torch.isclose(model.loss(torch.zeros(2, 3, 4, 4), everywhere)["total"], loss)


def test_training_loss_has_the_auxiliary_term():
    torch.manual_seed(0)
    model = SelfTrain(dataset=SYNTHETIC, aux_weight=0.4, **TINY).train()
    images, labels = torch.randn(2, 3, 32, 32), torch.randint(0, 9, (2, 32, 32))
    losses = model.loss(images, labels)
    torch.testing.assert_close(losses["total"], losses["main"] + 0.4 * losses["aux"])
    losses["total"].backward()
    assert model.model.backbone.vit.patch_embed.proj.weight.grad.abs().sum() > 0


def _with_probabilities(model: SelfTrain, probs: torch.Tensor) -> SelfTrain:
    model.model = FixedLogits(probs.log())
    return model.eval()


def test_background_is_a_class_not_a_threshold():
    # pixel 0: background 0.6 > best class 0.3 → background, although the class beats nothing else
    # pixel 1: class 'star' (index 2) 0.5 > background 0.2 → label 3, although 0.5 < threshold 0.95
    probs = torch.full((1, 9, 1, 2), 0.1 / 7)
    probs[0, 0, 0, 0], probs[0, 1, 0, 0] = 0.6, 0.3
    probs[0, :, 0, 1] = 0.3 / 7
    probs[0, 0, 0, 1], probs[0, 3, 0, 1] = 0.2, 0.5
    model = _with_probabilities(SelfTrain(dataset=SYNTHETIC, **TINY), probs)
    assert model.bg_threshold == 0.95
    labels = model.predict_labels(torch.zeros(1, 3, 1, 2), (1, 2))
    assert labels.tolist() == [[[0, 3]]]
    record = model.evaluation_record({"mIoU": 0.0}, 1, 0.0)
    assert record["protocol"]["background_rule"] == "argmax" and record["protocol"]["bg_threshold"] is None
    assert record["protocol"]["class_filter"] is None  # no text to rank classes by


@pytest.mark.parametrize("protocol", ["groupvit", "segclip", "tcl", "groupvit-plain"])
def test_every_protocol_scores_selftrain_by_the_argmax_of_its_own_outputs(protocol):
    # pixel 0: background; pixel 1: the last class (label 8), the best output though far below every
    # protocol's threshold: the argmax keeps it under every protocol, with no filter and no threshold
    probs = torch.full((1, 9, 1, 2), 0.02)
    probs[0, 0, 0, 0] = 0.9
    probs[0, 8, 0, 1] = 0.4
    model = _with_probabilities(SelfTrain(dataset=SYNTHETIC, protocol=protocol, **TINY), probs / probs.sum(1))
    assert model.predict_labels(torch.zeros(1, 3, 1, 2), (1, 2)).tolist() == [[[0, 8]]]
    assert model.background_rule() == "argmax" and model.class_filter() is None


def test_without_background_every_output_is_a_class():
    voc20 = get_dataset_spec("voc20")
    model = SelfTrain(dataset=voc20, **TINY)
    assert model.num_outputs == 20 and not model.predicts_background()
    probs = torch.full((1, 20, 1, 1), 0.01)
    probs[0, 19] = 0.81
    labels = _with_probabilities(model, probs).predict_labels(torch.zeros(1, 3, 1, 1), (1, 1))
    assert labels.item() == 19


class _TwoChannel(OpenVocabSegmenter):
    """The base hook alone: fixed scores, background channel first when ``bg_first``."""

    def __init__(self, bg_first: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bg_first = bg_first

    def predicts_background(self) -> bool:
        return self.bg_first

    def build_class_embeddings(self) -> torch.Tensor:
        return torch.zeros(1)

    def window_scores(self, images, class_embeddings):
        if not self.bg_first:
            return super().window_scores(images, class_embeddings)  # the protocol's rules
        scores = torch.tensor([0.3, 0.1, 0.6])
        return scores.view(1, -1, 1, 1).expand(images.shape[0], -1, *images.shape[-2:])

    def regions(self, images, class_embeddings):
        probs = torch.tensor([0.2, 0.1]).view(1, 2, 1, 1).expand(images.shape[0], -1, *images.shape[-2:])
        return RegionScores.from_pixels(probs, image_probs=probs.mean(dim=(2, 3)))


def test_base_predicts_background_hook():
    spec = get_dataset_spec("voc")
    images = torch.zeros(1, 3, 2, 2)
    # [background 0.3, class 0.1, class 0.6]: the argmax is the second class (label 2), though
    # 0.6 is below the threshold (0.95) that would make it background under the shared rule
    assert _TwoChannel(True, dataset=spec).predict_labels(images, (2, 2)).unique().tolist() == [2]
    assert _TwoChannel(True, dataset=spec).background_rule() == "argmax"
    # the default, GroupViT's rule: the window's best region (0.2² = 0.04 after the top-k product)
    # is never background, so every pixel is class 1
    assert _TwoChannel(False, dataset=spec).predict_labels(images, (2, 2)).unique().tolist() == [1]
    assert _TwoChannel(False, dataset=spec).background_rule() == "window"
    # the plain threshold rule on foreground scores (0.2 < 0.95 → background; 0.2 ≥ 0.1 → class 1)
    plain = dict(dataset=spec, protocol="groupvit-plain")
    assert _TwoChannel(False, **plain).predict_labels(images, (2, 2)).unique().tolist() == [0]
    assert _TwoChannel(False, **plain, bg_threshold=0.1).predict_labels(images, (2, 2)).unique().tolist() == [
        1
    ]
    assert _TwoChannel(False, **plain).background_rule() == "threshold"
    assert _TwoChannel(False, dataset=get_dataset_spec("voc20")).background_rule() is None


def test_classes_are_stored_and_checked():
    model = SelfTrain(dataset=SYNTHETIC, **TINY)
    assert model.hparams.classes == list(SYNTHETIC.class_names) and model.hparams.background is True
    assert model.hparams.backbone_pretrained is False  # a checkpoint rebuilds without fetching weights
    rebuilt = SelfTrain(**{**dict(model.hparams), "dataset": SYNTHETIC})
    rebuilt.load_state_dict(model.state_dict())
    with pytest.raises(ClassMismatchError, match="dataset 'voc' has 20 classes"):
        SelfTrain(**{**dict(model.hparams), "dataset": get_dataset_spec("voc")})
    with pytest.raises(ClassMismatchError):
        SelfTrain(**{**dict(model.hparams), "dataset": get_dataset_spec("voc20")})
    with pytest.raises(OvsegUserError, match="needs the classes"):
        SelfTrain(**TINY)


def test_backbone_weights_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    source = ViTFeatures("vit_tiny_patch16_224", out_indices=(0, 1, 2, 3), model_kwargs=TINY_VIT)
    state = {k: v for k, v in source.vit.state_dict().items() if not k.startswith("norm.")}
    path = tmp_path / "vit.safetensors"
    save_file({f"module.{k}": v.contiguous() for k, v in state.items()}, str(path))  # DDP-style keys
    loaded = SelfTrain(dataset=SYNTHETIC, **{**TINY, "backbone_weights": str(path)})
    for key, value in state.items():
        torch.testing.assert_close(loaded.model.backbone.vit.state_dict()[key], value)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"blocks.0.attn.qkv.weight": torch.zeros(3, 3)}, str(wrong))
    with pytest.raises(OvsegUserError, match="does not fit"):
        SelfTrain(dataset=SYNTHETIC, **{**TINY, "backbone_weights": str(wrong)})


def test_offline_without_a_file_says_where_to_put_one(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OvsegUserError) as error:
        ViTFeatures("vit_base_patch16_224.mae", pretrained=True)
    message = str(error.value)
    assert "huggingface.co/timm/vit_base_patch16_224.mae" in message
    assert "--model.backbone_weights" in message and "--model.backbone_pretrained false" in message


def test_layer_decay_and_schedule():
    model = SelfTrain(dataset=SYNTHETIC, **TINY)
    groups = param_groups(model, 0.05, 0.5, 4, "model.backbone.vit.")
    by_name = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in groups:
        for parameter in group["params"]:
            by_name[names[id(parameter)]] = group
    assert by_name["model.backbone.vit.patch_embed.proj.weight"]["lr_scale"] == 0.5**5
    assert by_name["model.backbone.vit.blocks.3.mlp.fc1.weight"]["lr_scale"] == 0.5
    assert by_name["model.head.classifier.weight"]["lr_scale"] == 1.0
    assert by_name["model.backbone.vit.pos_embed"]["weight_decay"] == 0.0
    assert by_name["model.head.classifier.bias"]["weight_decay"] == 0.0
    assert by_name["model.head.classifier.weight"]["weight_decay"] == 0.05
    assert len(by_name) == sum(1 for p in model.parameters() if p.requires_grad)
    assert [warmup_poly(s, 2, 6) for s in range(7)] == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]


def test_augmentation_keeps_image_and_labels_aligned():
    labels = np.zeros((20, 30), dtype=np.uint8)
    labels[:, 15:] = 3
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    image[:, 15:] = 200
    transform = RandomScaleCropFlip(32, (0.5, 2.0))
    for seed in range(20):
        out_image, out_labels = transform(image, labels, torch.Generator().manual_seed(seed))
        assert out_image.shape == (3, 32, 32) and out_labels.shape == (32, 32)
        assert out_image.dtype == torch.uint8 and out_labels.dtype == torch.int64
        assert set(out_labels.unique().tolist()) <= {0, 3, 255}
        bright = out_image[0] > 100
        inner = torch.zeros_like(out_labels, dtype=torch.bool)  # away from the edge bilinear blurs
        inner[:, 1:-1] = (out_labels[:, 1:-1] == out_labels[:, :-2]) & (
            out_labels[:, 1:-1] == out_labels[:, 2:]
        )
        assert not bright[inner & (out_labels == 0)].any() and bright[inner & (out_labels == 3)].all()
        assert (inner & (out_labels == 3)).any() or (inner & (out_labels == 0)).any()
    padded = RandomScaleCropFlip(64, (1.0, 1.0), base_size=20)(image, labels)[1]  # 20 × 30 → padded
    assert (padded == 255).sum() == 64 * 64 - 20 * 30
