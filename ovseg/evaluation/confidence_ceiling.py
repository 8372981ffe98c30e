"""How confident a zero-shot classifier can ever be, at its own temperature: the confidence ceiling.

SegCLIP and S-Seg classify a region by a softmax over classes of ``scale · cosine(feature, class
embedding)``. The ceiling of class c is the highest probability of c that *any* unit feature can get:

    ceiling(c) = max over ‖f‖ = 1 of softmax(scale · E f)[c],    E: (C, D) normalised class embeddings.

It is set by how far c's embedding lies from the others' and by the scale alone. When it is below a
protocol's background threshold, no region is ever labelled c under that protocol, however good the
features are; the benchmark report prints it beside each method's mIoU.

Finding it: ``log softmax(scale · E f)[c]`` is concave in f, so maximising it over the unit *ball* is
a convex problem, solved here by projected gradient ascent. Its maximum lies on the
sphere whenever c can win at all (then moving f outwards only sharpens the softmax), so it is the
ceiling. A feature equal to c's own embedding is the starting point and a lower bound: the best
feature also points away from the classes closest to c.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ASCENT_STEPS = 1000


def _project_to_ball(features: torch.Tensor) -> torch.Tensor:
    """Rows of (C, D) scaled back onto the unit ball where they lie outside it."""
    return features / features.norm(dim=-1, keepdim=True).clamp(min=1.0)


def best_class_probabilities(
    embeddings: torch.Tensor, scale: float, steps: int = ASCENT_STEPS
) -> torch.Tensor:
    """(C,) for each class c, the maximum over unit features f of ``softmax(scale · E f)[c]``.

    Projected gradient ascent on the unit ball, all classes at once, each with its own step size:
    a step that raises the objective is kept and the next one is 1.5× longer; one that does not is
    undone and the step halved. Monotone, so never below the start (c's own embedding). The gradient
    of ``log softmax(scale · E f)[c]`` is ``scale · (e_c − Σ_d p_d e_d)``.

    Args:
        embeddings: (C, D) normalised class embeddings E.
        scale: the logit scale.
        steps: ascent iterations.
    """
    num_classes = embeddings.shape[0]
    target = torch.arange(num_classes, device=embeddings.device)  # (C,): row c maximises class c

    def objective(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(C, D) features → (C,) log-probability of each row's own class, (C, C) probabilities."""
        log_probs = (scale * features @ embeddings.T).log_softmax(dim=-1)  # (C, C)
        return log_probs[target, target], log_probs.exp()

    features = embeddings.clone()  # (C, D): start at each class's own embedding
    value, probs = objective(features)  # (C,), (C, C)
    # The Hessian is −scale²·Cov_p(E), whose norm is at most scale² for unit embeddings.
    step = embeddings.new_full((num_classes, 1), 1.0 / max(scale * scale, 1e-12))  # (C, 1)
    for _ in range(steps):
        gradient = scale * (embeddings - probs @ embeddings)  # (C, D)
        trial = _project_to_ball(features + step * gradient)  # (C, D)
        trial_value, trial_probs = objective(trial)  # (C,), (C, C)
        better = trial_value > value  # (C,)
        step = torch.where(better[:, None], step * 1.5, step * 0.5)
        features = torch.where(better[:, None], trial, features)  # (C, D)
        value = torch.where(better, trial_value, value)  # (C,)
        probs = torch.where(better[:, None], trial_probs, probs)  # (C, C)
    return objective(F.normalize(features, dim=-1))[0].exp()  # the maximum lies on the sphere


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
    embeddings = F.normalize(class_embeddings.detach().double(), dim=-1)  # (C, D)
    cosine = embeddings @ embeddings.T  # (C, C)
    ceiling = best_class_probabilities(embeddings, float(scale))  # (C,)
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
