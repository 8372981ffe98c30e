"""Shared, method-blind evaluation: the field's mIoU, inference windows, prompts and protocols."""

from ovseg.evaluation.inference import (
    infer_scores,
    labels_from_scores,
    resize_short_side,
    slide_inference,
    whole_inference,
)
from ovseg.evaluation.metrics import SemSegIoU, reduce_zero_label
from ovseg.evaluation.protocols import PROTOCOLS, Protocol, get_protocol
from ovseg.evaluation.zero_shot import build_text_classifier

__all__ = [
    "PROTOCOLS",
    "Protocol",
    "SemSegIoU",
    "build_text_classifier",
    "get_protocol",
    "infer_scores",
    "labels_from_scores",
    "reduce_zero_label",
    "resize_short_side",
    "slide_inference",
    "whole_inference",
]
