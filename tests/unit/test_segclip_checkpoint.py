"""SegCLIP weights: the released key layout round-trips, CLIP loads from files, errors say what to do."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ovseg.data.transforms import ClipTokenizer
from ovseg.errors import OvsegUserError
from ovseg.methods.segclip import SegCLIP
from ovseg.methods.segclip.checkpoint import to_released
from ovseg.nn.clip import create_open_clip, read_state_dict
from tests.unit.test_segclip_model import TINY, TINY_OPEN_CLIP

TINY_MODULE = {**TINY, "clip_pretrained": None}

RELEASED_KEYS = [
    "clip.visual.conv1.weight",
    "clip.visual.class_embedding",
    "clip.visual.positional_embedding",
    "clip.visual.ln_pre.weight",
    "clip.visual.ln_post.bias",
    "clip.visual.proj",
    "clip.visual.transformer.layers0.0.attn.in_proj_weight",
    "clip.visual.transformer.layers0.2.mlp.c_proj.bias",
    "clip.visual.transformer.layers2.0.ln_2.weight",
    "clip.visual.transformer.semantic_layer2.semantic_center",
    "clip.visual.transformer.semantic_layer2.cross_att.1.ln_x.weight",
    "clip.visual.transformer.semantic_layer2.cross_att.0.ln_k.bias",
    "clip.visual.transformer.semantic_layer2.cross_att.0.attn.out_proj.weight",
    "clip.visual.transformer.semantic_layer2.cross_ln.weight",
    "clip.visual.transformer.semantic_layer2.k_conv.weight",
    "clip.visual.transformer.semantic_layer2.k_ln.bias",
    "clip.visual.transformer.semantic_layer2.v_conv.weight",
    "clip.visual.transformer.semantic_layer2.proj_o.ln.weight",
    "clip.visual.transformer.semantic_layer2.proj_o.mlp.fc1.weight",
    "clip.visual.transformer.semantic_layer2.proj_o.mlp.fc2.bias",
    "clip.visual.transformer.semantic_layer2.norm.weight",
    "clip.visual.transformer.layers_mae2.0.attn.in_proj_bias",
    "clip.visual.transformer.reconstruct_layer2.rec_proj_a.a_fc.weight",
    "vis_mae_decoder.decoder_embed.weight",
    "vis_mae_decoder.mask_token",
    "vis_mae_decoder.decoder_pos_embed",
    "vis_mae_decoder.decoder_blocks.2.attn.qkv.bias",
    "vis_mae_decoder.decoder_blocks.0.mlp.fc2.weight",
    "vis_mae_decoder.decoder_norm.weight",
    "vis_mae_decoder.decoder_pred.bias",
    "clip.token_embedding.weight",
    "clip.positional_embedding",
    "clip.transformer.resblocks.1.attn.in_proj_weight",
    "clip.ln_final.weight",
    "clip.text_projection",
    "clip.logit_scale",
]


def _segment(module: SegCLIP, images: torch.Tensor) -> torch.Tensor:
    module.eval()
    with torch.no_grad():
        classes = F.normalize(
            module.encode_text(["a photo of a ball.", "a photo of a star.", "a ring"]), dim=-1
        )
        return module.segment(images, classes)


def test_released_layout_round_trips(tmp_path):
    torch.manual_seed(0)
    trained = SegCLIP(**TINY_MODULE)
    with torch.no_grad():  # move every weight away from its initial value
        for param in trained.model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    released = to_released(trained.model.state_dict())
    assert set(RELEASED_KEYS) <= set(released)
    assert all(key.startswith(("clip.", "vis_mae_decoder.")) for key in released)
    assert released["clip.visual.transformer.semantic_layer2.k_conv.weight"].shape == (64, 32, 1)
    path = tmp_path / "segclip.bin"
    torch.save(released, path)

    torch.manual_seed(1)
    loaded = SegCLIP(**TINY_MODULE, weights=str(path))
    images = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(_segment(loaded, images), _segment(trained, images))
    for key, value in trained.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value, msg=key)


def test_released_file_of_another_size_is_an_error_naming_the_arguments(tmp_path):
    path = tmp_path / "segclip.bin"
    torch.save(to_released(SegCLIP(**TINY_MODULE).model.state_dict()), path)
    with pytest.raises(OvsegUserError, match="vision_width"):
        SegCLIP(**{**TINY_MODULE, "vision_width": 32}, weights=str(path))
    torch.save({"head.weight": torch.zeros(2)}, path)
    with pytest.raises(OvsegUserError, match="released SegCLIP layout"):
        SegCLIP(**TINY_MODULE, weights=str(path))


def test_clip_loads_from_a_local_open_clip_file(tmp_path):
    torch.manual_seed(0)
    reference = create_open_clip("ViT-B-16", **TINY_OPEN_CLIP).eval()
    path = tmp_path / "clip.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in reference.state_dict().items()}}, path)
    module = SegCLIP(**{**TINY_MODULE, "clip_pretrained": str(path), "freeze_embeddings": False})
    tokens = ClipTokenizer(32)(["a photo of a cat."])
    with torch.no_grad():
        torch.testing.assert_close(
            module.model.encode_text(tokens), reference.encode_text(tokens), atol=1e-5, rtol=0
        )
    # the last CLIP block went to the third stage
    torch.testing.assert_close(
        module.model.visual.stage3[0].mlp.c_fc.weight,
        reference.visual.transformer.resblocks[3].mlp.c_fc.weight,
    )


def test_torchscript_archives_are_read_without_unpickling(tmp_path):
    path = tmp_path / "jit.pt"
    linear = torch.nn.Linear(2, 3)
    torch.jit.save(torch.jit.trace(linear, torch.zeros(1, 2)), path)
    state = read_state_dict(path)
    torch.testing.assert_close(state["weight"], linear.weight.detach())


def test_missing_clip_weights_offline_say_where_to_put_the_file(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline mode (read at import time and as a constant)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OvsegUserError, match="clip_pretrained /path/to") as error:
        SegCLIP(clip_pretrained="openai", clip_cache_dir=str(tmp_path), reconstruction_weight=0)
    assert "ViT-B-16" in str(error.value) and "openaipublic" in str(error.value)
    with pytest.raises(OvsegUserError, match="laion2b_s34b_b88k"):
        SegCLIP(**TINY_MODULE | {"clip_pretrained": "no-such-tag"})
    with pytest.raises(OvsegUserError, match="quick_gelu false"):
        SegCLIP(**TINY_MODULE | {"clip_pretrained": "laion2b_s34b_b88k"})
