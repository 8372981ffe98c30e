"""Shared, method-blind evaluation: the field's mIoU, inference windows, prompts and protocols.

Names are imported on first use, so that ``ovseg.evaluation.protocols`` (plain data) can be read
without importing torch.
"""

from importlib import import_module

_EXPORTS = {
    "infer_scores": "inference",
    "labels_from_scores": "inference",
    "resize_short_side": "inference",
    "slide_inference": "inference",
    "whole_inference": "inference",
    "SemSegIoU": "metrics",
    "reduce_zero_label": "metrics",
    "PROTOCOLS": "protocols",
    "Protocol": "protocols",
    "get_protocol": "protocols",
    "build_text_classifier": "zero_shot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ovseg.evaluation' has no attribute '{name}'")
    return getattr(import_module(f"ovseg.evaluation.{_EXPORTS[name]}"), name)
