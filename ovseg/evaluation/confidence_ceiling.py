"""How confident a zero-shot classifier can ever be, at its own temperature: the confidence ceiling.

SegCLIP and S-Seg classify a region by a softmax over classes of ``scale · cosine(feature, class
embedding)``. The most confident a region can be of class c is bounded by how far c's text
embedding lies from the others': a feature equal to c's own (normalised) embedding gets
``softmax(scale · E·e_c)[c]``. When that ceiling is below a protocol's background threshold, no
region is ever labelled c under that protocol, however good the features are; the benchmark
report prints it beside each method's mIoU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def confidence_ceiling(class_embeddings: torch.Tensor, scale: float, names: tuple[str, ...]) -> dict:
    """The ceiling per class and the geometry behind it.

    Args:
        class_embeddings: (C, D) the zero-shot classifier's class embeddings.
        scale: the logit scale (inverse temperature) of the softmax over classes.
        names: the C class names.

    Returns:
        ``{"logit_scale", "mean_cosine", "max_cosine", "per_class": {name: ceiling}}``; the cosines
        are over pairs of different classes.
    """
    if class_embeddings.shape[0] != len(names):
        raise ValueError(f"{class_embeddings.shape[0]} class embeddings for {len(names)} names.")
    embeddings = F.normalize(class_embeddings.detach().float(), dim=-1)  # (C, D)
    cosine = embeddings @ embeddings.T  # (C, C)
    ceiling = (scale * cosine).softmax(dim=-1).diagonal()  # (C,): class c's probability at e_c
    pairs = cosine[~torch.eye(len(names), dtype=torch.bool, device=cosine.device)]  # (C·(C−1),)
    return {
        "logit_scale": float(scale),
        "mean_cosine": float(pairs.mean()) if pairs.numel() else None,
        "max_cosine": float(pairs.max()) if pairs.numel() else None,
        "per_class": {name: float(value) for name, value in zip(names, ceiling.tolist(), strict=True)},
    }


def classes_reaching(ceiling: dict, threshold: float) -> list[str]:
    """The classes whose ceiling reaches ``threshold`` (those the threshold rule can ever label)."""
    return [name for name, value in ceiling["per_class"].items() if value >= threshold]
