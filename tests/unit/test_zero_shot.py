"""The zero-shot text classifier: names × templates → normalised mean embedding per class."""

from __future__ import annotations

import pytest
import torch

from ovseg.evaluation.zero_shot import build_text_classifier


def test_mean_of_normalised_template_embeddings_normalised_again():
    table = {
        "a photo of a cat.": [3.0, 0.0],
        "a cat.": [0.0, 1.0],
        "a photo of a dog.": [0.0, 5.0],
        "a dog.": [0.0, 2.0],
    }
    seen = []

    def encode(prompts):
        seen.append(list(prompts))
        return torch.tensor([table[p] for p in prompts])

    classifier = build_text_classifier(encode, ["cat", "dog"], ["a photo of a {}.", "a {}."])
    assert seen == [["a photo of a cat.", "a cat."], ["a photo of a dog.", "a dog."]]
    half = 2**-0.5
    torch.testing.assert_close(classifier, torch.tensor([[half, half], [0.0, 1.0]]))
    torch.testing.assert_close(classifier.norm(dim=-1), torch.ones(2))


def test_empty_inputs_are_errors():
    with pytest.raises(ValueError, match="class name"):
        build_text_classifier(lambda p: torch.ones(len(p), 2), [], ["{}"])
    with pytest.raises(ValueError, match="template"):
        build_text_classifier(lambda p: torch.ones(len(p), 2), ["cat"], [])
