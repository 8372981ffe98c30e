"""``ovseg predict`` with a closed-vocabulary model (selftrain): its own classes, or some of them.

An open-vocabulary model (segclip, sseg) segments whatever labels it is given. A selftrain model
predicts the classes it was trained for; ``--labels`` then picks some of them (all when omitted), a
pixel whose predicted class is not picked is background, and with ``--no-background`` every pixel
gets the picked class it scores highest.
"""

from __future__ import annotations

import torch

from ovseg.errors import OvsegUserError


def _key(name: str) -> str:
    """A name as ``parse_labels`` compares names: lower case, single spaces."""
    return " ".join(name.lower().split())


def choose_classes(labels: tuple[str, ...] | None, classes: tuple[str, ...], model: str) -> tuple[str, ...]:
    """The model's names of ``labels`` (matched case-insensitively), in the order given; all
    ``classes`` when ``labels`` is None. A label the model was not trained for is an error naming its
    classes."""
    if labels is None:
        return classes
    known = {_key(name): name for name in classes}
    unknown = [label for label in labels if _key(label) not in known]
    if unknown:
        raise OvsegUserError(
            f"--labels: {', '.join(repr(label) for label in unknown)} "
            f"{'is not a class' if len(unknown) == 1 else 'are not classes'} of this {model} model, which is "
            f"closed-vocabulary: it predicts only the {len(classes)} classes it was trained for "
            f"({', '.join(classes)}). Pass some of them, omit --labels for all of them, or use an "
            "open-vocabulary checkpoint (segclip, sseg) for free-text labels."
        )
    return tuple(known[_key(label)] for label in labels)


def closed_vocabulary_labels(
    scores: torch.Tensor,
    classes: tuple[str, ...],
    chosen: tuple[str, ...],
    scored_background: bool,
    background: bool,
) -> torch.Tensor:
    """Label values (B, H, W) from a closed-vocabulary model's scores: i for ``chosen[i - 1]``.

    Args:
        scores: (B, K, H, W) scores of [background (when ``scored_background``), *classes].
        classes: the model's classes, in its output order.
        chosen: the classes to label, some or all of ``classes``.
        scored_background: whether channel 0 of ``scores`` is the model's background.
        background: whether label 0 exists: a pixel whose best output (over all of them) is background
            or a class not chosen is 0; else every pixel gets its best chosen class (1..len(chosen)).
    """
    offset = int(scored_background)
    channels = torch.tensor([offset + classes.index(name) for name in chosen], device=scores.device)  # (L,)
    if not background:
        return scores.index_select(1, channels).argmax(dim=1) + 1  # (B, H, W): 1..L
    value_of = torch.zeros(scores.shape[1], dtype=torch.long, device=scores.device)  # (K,): 0 everywhere
    value_of[channels] = torch.arange(1, len(chosen) + 1, device=scores.device)  # chosen class i → i
    return value_of[scores.argmax(dim=1)]  # (B, H, W): 0..L
