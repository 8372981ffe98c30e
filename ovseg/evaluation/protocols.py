"""Evaluation protocols as plain data: the settings that make two papers' numbers comparable.

Every preset fixes the test-time resolution, the window, the prompt templates, the class-name
renames, the background thresholds and the two rules that turn a window's region scores into
labels: the top-k class filter and the background rule (``ovseg.evaluation.window_rules``).
Values are those of the releases (GroupViT, SegCLIP, TCL).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ovseg.errors import OvsegUserError, UnknownNameError

# How the top-k filter combines with the plain class probabilities of a region.
TOP_K_COMBINES = ("product", "filtered")
# How background is decided (see ``Protocol.bg_rule``).
BG_RULES = ("window", "constant", "threshold")

# Class-name renames GroupViT introduced and SegCLIP/S-Seg kept ("diningtable" is not English).
_VOC_RENAMES = {"diningtable": "table", "pottedplant": "plant", "tvmonitor": "monitor"}
_CONTEXT_RENAMES = {**_VOC_RENAMES, "aeroplane": "airplane"}


@dataclass(frozen=True)
class Protocol:
    """How a method is evaluated; method-blind.

    Attributes:
        name: preset name.
        short_side: the test image's short side after resizing (ratio kept); None keeps its size.
        max_long_side: cap on the long side after resizing (mmseg's ``img_scale=(2048, short)``).
        mode: ``whole`` (one forward) or ``slide`` (overlapping windows, scores averaged).
        crop: window side for ``slide``.
        stride: window stride for ``slide``.
        templates: name of the prompt-template set (see ``ovseg.data.templates``).
        renames: per benchmark family, raw class name → prompt name.
        bg_thresholds: per benchmark family, the best-foreground score under which a pixel is
            background. Families without background never use it.
        top_k_classes: if set, each window's top-k classes by image-level score (k capped at the
            number of classes) are the only ones a region's affinity can favour; None: no filter.
        top_k_combine: "product" (GroupViT's and SegCLIP's releases: the softmax over the kept
            classes times the plain softmax over all classes) or "filtered" (the softmax over the
            kept classes alone).
        bg_rule: how a pixel becomes background, for families with background:
            "window" (GroupViT's and SegCLIP's releases): per window, a background channel that is 1
            where the pixel's best class affinity is below min(threshold, the window's largest
            region affinity) and 0 elsewhere; windows averaged, then the argmax;
            "constant" (TCL's release): a channel equal to the threshold, then the argmax;
            "threshold": background where the best class score, after the windows are averaged and
            resized to the original image, is below the threshold.
    """

    name: str
    short_side: int | None
    max_long_side: int = 2048
    mode: Literal["whole", "slide"] = "slide"
    crop: int = 448
    stride: int = 224
    templates: str = "simple"
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    bg_thresholds: dict[str, float] = field(default_factory=dict)
    top_k_classes: int | None = None
    top_k_combine: Literal["product", "filtered"] = "product"
    bg_rule: Literal["window", "constant", "threshold"] = "window"

    def __post_init__(self) -> None:
        if self.top_k_classes is not None and self.top_k_classes < 1:
            raise OvsegUserError(
                f"protocol '{self.name}': top_k_classes must be at least 1, got {self.top_k_classes} "
                "(0 on the command line turns the filter off)."
            )
        if self.top_k_combine not in TOP_K_COMBINES:
            raise OvsegUserError(
                f"protocol '{self.name}': unknown top_k_combine '{self.top_k_combine}'. "
                f"Valid values: {', '.join(TOP_K_COMBINES)}."
            )
        if self.bg_rule not in BG_RULES:
            raise OvsegUserError(
                f"protocol '{self.name}': unknown bg_rule '{self.bg_rule}'. "
                f"Valid values: {', '.join(BG_RULES)}."
            )

    def threshold_for(self, family: str) -> float:
        """The background threshold for a benchmark family ('voc', 'context', 'coco', ...)."""
        if family not in self.bg_thresholds:
            raise ValueError(
                f"Protocol '{self.name}' has no background threshold for '{family}' "
                f"(it has {sorted(self.bg_thresholds)}); pass --model.bg_threshold to set one."
            )
        return self.bg_thresholds[family]

    def prompt_names(self, family: str, class_names: tuple[str, ...]) -> tuple[str, ...]:
        """Class names as they are put into the templates under this protocol."""
        renames = self.renames.get(family, {})
        return tuple(renames.get(name, name) for name in class_names)

    def override(self, **changes) -> Protocol:
        """A copy with some fields changed (None values are ignored; ``top_k_classes=0`` turns the
        class filter off)."""
        values = {key: value for key, value in changes.items() if value is not None}
        if values.get("top_k_classes") == 0:
            values["top_k_classes"] = None
        return replace(self, **values)


_GROUPVIT = Protocol(
    name="groupvit",
    short_side=448,
    mode="slide",
    crop=448,
    stride=224,
    templates="simple",
    renames={"voc": _VOC_RENAMES, "context": _CONTEXT_RENAMES},
    bg_thresholds={"voc": 0.95, "context": 0.35, "coco": 0.95},
    top_k_classes=5,
    top_k_combine="product",
    bg_rule="window",
)

PROTOCOLS: dict[str, Protocol] = {
    # GroupViT's released evaluation, which the S-Seg paper follows; ovseg's default.
    "groupvit": _GROUPVIT,
    # GroupViT's windows, prompts and thresholds without its two rules: no class filter, background
    # by one threshold on the averaged scores (ovseg's groupvit before it followed the release).
    "groupvit-plain": replace(_GROUPVIT, name="groupvit-plain", top_k_classes=None, bg_rule="threshold"),
    # SegCLIP's release: GroupViT's rules on 224 px windows without overlap, its own thresholds.
    "segclip": replace(
        _GROUPVIT,
        name="segclip",
        short_side=224,
        crop=224,
        stride=224,
        bg_thresholds={"voc": 0.80, "context": 0.25, "coco": 0.65},
    ),
    # TCL's release: 9 templates, raw mmseg class names, a constant 0.4 background channel.
    "tcl": replace(
        _GROUPVIT,
        name="tcl",
        templates="tcl",
        renames={},
        bg_thresholds={"voc": 0.4, "context": 0.4, "coco": 0.4},
        top_k_classes=None,
        bg_rule="constant",
    ),
}

DEFAULT_PROTOCOL = "groupvit"


def get_protocol(name: str) -> Protocol:
    """The preset called ``name``; an unknown name is an error listing the valid ones."""
    if name not in PROTOCOLS:
        raise UnknownNameError(f"Unknown protocol '{name}'. Valid protocols: {', '.join(PROTOCOLS)}.")
    return PROTOCOLS[name]
