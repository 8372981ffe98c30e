"""Crops that report their box, normalisation presets, CLIP tokenisation."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from ovseg.data.transforms import (
    NORMALIZATIONS,
    CenterCropWithBox,
    ClipTokenizer,
    CropBox,
    RandomResizedCropWithBox,
    get_normalization,
    normalize,
    pil_to_tensor,
    random_resized_box,
)
from ovseg.errors import UnknownNameError
from ovseg.methods.base import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_random_boxes_stay_inside_and_respect_scale_and_ratio():
    generator = torch.Generator().manual_seed(0)
    width, height = 200, 120
    for _ in range(300):
        box = random_resized_box(width, height, (0.5, 1.0), (3 / 4, 4 / 3), generator)
        assert box.top >= 0 and box.top + box.height <= height
        assert box.left >= 0 and box.left + box.width <= width
        area = box.height * box.width / (width * height)
        assert 0.5 - 0.02 <= area <= 1.0
        assert 3 / 4 - 0.03 <= box.width / box.height <= 4 / 3 + 0.03


def test_random_box_falls_back_to_a_centred_box_with_clamped_aspect():
    box = random_resized_box(1000, 10, (0.9, 1.0), (3 / 4, 4 / 3), torch.Generator().manual_seed(0))
    assert box == CropBox(0, (1000 - 13) // 2, 10, 13)


def test_crop_equals_resizing_the_boxed_region_of_the_original():
    image = noise_image(150, 90)
    crop, box = RandomResizedCropWithBox(48)(image, torch.Generator().manual_seed(3))
    assert crop.size == (48, 48)
    region = np.asarray(image)[box.top : box.top + box.height, box.left : box.left + box.width]
    expected = Image.fromarray(np.ascontiguousarray(region)).resize((48, 48), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(np.asarray(crop), np.asarray(expected))


def test_crops_are_reproducible_from_a_generator():
    image = noise_image(64, 64)
    cropper = RandomResizedCropWithBox(32, scale=(0.2, 0.6))
    boxes = [cropper(image, torch.Generator().manual_seed(7))[1] for _ in range(2)]
    assert boxes[0] == boxes[1]
    assert cropper.scale == (0.2, 0.6)


def test_bad_crop_ranges_are_rejected():
    with pytest.raises(ValueError, match="crop scale"):
        RandomResizedCropWithBox(32, scale=(0.8, 0.2))
    with pytest.raises(ValueError, match="crop ratio"):
        RandomResizedCropWithBox(32, ratio=(0.0, 1.0))


def test_center_crop_takes_the_largest_centred_square():
    image = noise_image(100, 60)
    crop, box = CenterCropWithBox(30)(image)
    assert box == CropBox(0, 20, 60, 60)
    assert crop.size == (30, 30)


def test_normalize_accepts_uint8_and_unit_floats_alike():
    images = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)  # (B, 3, H, W)
    mean, std = NORMALIZATIONS["clip"]
    from_uint8 = normalize(images, mean, std)  # (B, 3, H, W)
    from_float = normalize(images.float() / 255, mean, std)  # (B, 3, H, W)
    torch.testing.assert_close(from_uint8, from_float)
    expected = (images[0, 1].float() / 255 - CLIP_MEAN[1]) / CLIP_STD[1]  # (H, W)
    torch.testing.assert_close(from_uint8[0, 1], expected)
    assert normalize(images[0], *NORMALIZATIONS["none"]).max() <= 1.0


def test_normalization_presets_come_from_the_methods_base():
    assert get_normalization("clip") == (CLIP_MEAN, CLIP_STD)
    assert get_normalization("imagenet") == (IMAGENET_MEAN, IMAGENET_STD)
    with pytest.raises(UnknownNameError, match="clip, imagenet, none"):
        get_normalization("openai")


def test_pil_to_tensor_is_channels_first_uint8():
    tensor = pil_to_tensor(noise_image(7, 5))  # (3, H, W)
    assert tensor.shape == (3, 5, 7) and tensor.dtype == torch.uint8


@pytest.fixture(scope="module")
def tokenizer() -> ClipTokenizer:
    return ClipTokenizer(context_length=77)


def test_tokens_are_sot_text_eot_then_padding(tokenizer):
    tokens = tokenizer(["a photo of a cat", "dog"])  # (B, L)
    assert tokens.shape == (2, 77) and tokens.dtype == torch.int64
    body = tokenizer.tokenizer.encode("a photo of a cat")
    assert tokens[0, 0] == tokenizer.sot_token_id
    assert tokens[0, 1 : 1 + len(body)].tolist() == body
    assert tokens[0, 1 + len(body)] == tokenizer.eot_token_id
    assert tokens[0, 2 + len(body) :].eq(0).all()
    assert (tokens.argmax(dim=1) == torch.tensor([1 + len(body), 2])).all()  # EOT has the largest id
    assert tokenizer("one text").shape == (1, 77)


def test_long_captions_are_truncated_with_eot_last():
    tokenizer = ClipTokenizer(context_length=8)
    caption = "a very long caption about many small objects lying on a wooden table in the sun"
    tokens = tokenizer([caption])  # (1, 8)
    assert tokens.shape == (1, 8)
    assert tokens[0, -1] == tokenizer.eot_token_id
    assert tokens[0, 1:7].tolist() == tokenizer.tokenizer.encode(caption)[:6]
    assert (tokens == tokenizer.eot_token_id).sum() == 1


def test_tokens_match_open_clip_for_short_and_long_texts(tokenizer):
    texts = ["a diagram", "word " * 100]
    reference = tokenizer.tokenizer(texts, context_length=32)  # (B, 32)
    torch.testing.assert_close(ClipTokenizer(32)(texts), reference)


def test_tokenizer_pickles_small_and_works_after(tokenizer):
    tokenizer("warm up")
    blob = pickle.dumps(tokenizer)
    assert len(blob) < 1000
    restored = pickle.loads(blob)
    torch.testing.assert_close(restored(["a cat"]), tokenizer(["a cat"]))
    assert math.isclose(restored.context_length, 77)


def test_tokenizer_needs_room_for_sot_and_eot():
    with pytest.raises(ValueError, match="at least 2"):
        ClipTokenizer(1)
