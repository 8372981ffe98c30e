"""Zero-shot text classifier: one L2-normalised embedding per class from names × templates."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

EncodeTextFn = Callable[[list[str]], torch.Tensor]


def build_text_classifier(
    encode_text: EncodeTextFn,
    class_names: Sequence[str],
    templates: Sequence[str],
) -> torch.Tensor:
    """Class embeddings (C, D): mean of the L2-normalised template embeddings, normalised again.

    Args:
        encode_text: maps a list of T prompts to (T, D) text features.
        class_names: the C names put into the templates (after the protocol's renames).
        templates: format strings with one ``{}``.
    """
    if not class_names:
        raise ValueError("build_text_classifier needs at least one class name.")
    if not templates:
        raise ValueError("build_text_classifier needs at least one template.")
    embeddings = []
    for name in class_names:
        prompts = [template.format(name) for template in templates]
        features = F.normalize(encode_text(prompts).float(), dim=-1)  # (T, D)
        embeddings.append(F.normalize(features.mean(dim=0), dim=-1))  # (D,)
    return torch.stack(embeddings)  # (C, D)
