"""A test-only segmenter whose output is known: it recognises classes by their colour.

Text side: a prompt's embedding is the one-hot vector of the palette name it contains. Image side:
each pixel's score for a palette entry is a softmax over negative squared colour distances, so a
scene painted with ``PALETTE`` colours (background black) is segmented back into its labels. Every
pixel is a region of its own, with these probabilities (which leave the background colour's share
out, so a black pixel scores low for every class); its image-level probabilities are their mean.
"""

from __future__ import annotations

import torch

from ovseg.data.classnames import SYNTHETIC_CLASSES, VOC_CLASSES
from ovseg.data.palette import voc_palette
from ovseg.evaluation.protocols import get_protocol
from ovseg.evaluation.regions import RegionScores
from ovseg.methods.base import OpenVocabSegmenter

# The 20 VOC prompt names (after GroupViT's renames), each painted in its label's VOC colour, then
# the synthetic benchmark's names (colours 21.., which its scenes do not use: a smoke-test vocabulary).
VOC_PROMPT_NAMES = get_protocol("groupvit").prompt_names("voc", VOC_CLASSES)
_COLOURS = voc_palette()
PALETTE: dict[str, tuple[int, ...]] = {
    name: tuple(_COLOURS[i + 1].tolist()) for i, name in enumerate(VOC_PROMPT_NAMES + SYNTHETIC_CLASSES)
}
BACKGROUND_COLOUR = tuple(_COLOURS[0].tolist())


class ColourSegmenter(OpenVocabSegmenter):
    """Scores pixels by colour; ``temperature`` sets how hard the colour match is."""

    image_mean = (0.0, 0.0, 0.0)
    image_std = (1.0, 1.0, 1.0)

    def __init__(self, temperature: float = 0.002, **kwargs) -> None:
        super().__init__(**kwargs)
        self.temperature = temperature
        self.vocabulary = sorted(PALETTE, key=len, reverse=True)  # longest match first
        colours = [PALETTE[name] for name in self.vocabulary] + [BACKGROUND_COLOUR]
        self.register_buffer("colours", torch.tensor(colours, dtype=torch.float32) / 255.0, persistent=False)
        self.segment_calls = 0

    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        rows = torch.zeros(len(prompts), len(self.vocabulary))  # (T, V)
        for row, prompt in enumerate(prompts):
            matches = [index for index, name in enumerate(self.vocabulary) if name in prompt]
            rows[row, matches[0]] = 1.0
        return rows

    def vocabulary_scores(self, images: torch.Tensor) -> torch.Tensor:
        """(B, V + 1, H, W) colour-match probabilities, the last channel background."""
        distance = (
            (images[:, None] - self.colours[None, :, :, None, None]).pow(2).sum(dim=2)
        )  # (B, V+1, H, W)
        return torch.softmax(-distance / self.temperature, dim=1)

    def class_scores(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) each pixel's colour-match probability for each class."""
        vocab = self.vocabulary_scores(images)[:, :-1]  # (B, V, H, W)
        return torch.einsum("cv,bvhw->bchw", class_embeddings, vocab)  # (B, C, H, W)

    def regions(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> RegionScores:
        self.segment_calls += 1
        scores = self.class_scores(images, class_embeddings)  # (B, C, H, W)
        return RegionScores.from_pixels(scores, image_probs=scores.mean(dim=(2, 3)))

    def classify_images(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        return self.class_scores(images, class_embeddings).mean(dim=(2, 3))  # (B, C)
