"""Evaluation protocols as plain data: the settings that make two papers' numbers comparable.

Every preset fixes the test-time resolution, the window, the prompt templates, the class-name
renames and the background thresholds. Values are those of ``shared/REFERENCE.md`` §3.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ovseg.errors import UnknownNameError

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
        top_k_classes: if set, only the image's top-k classes by image-level score may be
            predicted (SegCLIP's filter); needs a method with ``classify_images``.
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
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})


PROTOCOLS: dict[str, Protocol] = {
    # GroupViT's protocol, which the S-Seg paper follows; ovseg's default.
    "groupvit": Protocol(
        name="groupvit",
        short_side=448,
        mode="slide",
        crop=448,
        stride=224,
        templates="simple",
        renames={"voc": _VOC_RENAMES, "context": _CONTEXT_RENAMES},
        bg_thresholds={"voc": 0.95, "context": 0.35, "coco": 0.95},
    ),
    # SegCLIP's release: 224 px windows without overlap, its own thresholds, top-5 class filter.
    "segclip": Protocol(
        name="segclip",
        short_side=224,
        mode="slide",
        crop=224,
        stride=224,
        templates="simple",
        renames={"voc": _VOC_RENAMES, "context": _CONTEXT_RENAMES},
        bg_thresholds={"voc": 0.80, "context": 0.25, "coco": 0.65},
        top_k_classes=5,
    ),
    # TCL's protocol: 9 templates, raw mmseg class names, a constant 0.4 background score.
    "tcl": Protocol(
        name="tcl",
        short_side=448,
        mode="slide",
        crop=448,
        stride=224,
        templates="tcl",
        renames={},
        bg_thresholds={"voc": 0.4, "context": 0.4, "coco": 0.4},
    ),
}

DEFAULT_PROTOCOL = "groupvit"


def get_protocol(name: str) -> Protocol:
    """The preset called ``name``; an unknown name is an error listing the valid ones."""
    if name not in PROTOCOLS:
        raise UnknownNameError(f"Unknown protocol '{name}'. Valid protocols: {', '.join(PROTOCOLS)}.")
    return PROTOCOLS[name]
