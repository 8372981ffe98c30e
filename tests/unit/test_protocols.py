"""Protocol presets are the REFERENCE.md §3 values."""

from __future__ import annotations

import pytest

from ovseg.data.classnames import CONTEXT59_CLASSES, VOC_CLASSES
from ovseg.data.templates import get_templates
from ovseg.evaluation.protocols import PROTOCOLS, get_protocol


def test_groupvit_is_the_default_setting_of_the_field():
    p = get_protocol("groupvit")
    assert (p.short_side, p.mode, p.crop, p.stride, p.templates) == (448, "slide", 448, 224, "simple")
    assert [p.threshold_for(f) for f in ("voc", "context", "coco")] == [0.95, 0.35, 0.95]
    assert p.top_k_classes is None


def test_segclip_release_settings():
    p = get_protocol("segclip")
    assert (p.short_side, p.crop, p.stride, p.top_k_classes) == (224, 224, 224, 5)
    assert [p.threshold_for(f) for f in ("voc", "context", "coco")] == [0.80, 0.25, 0.65]


def test_tcl_uses_nine_templates_and_raw_names():
    p = get_protocol("tcl")
    assert len(get_templates(p.templates)) == 9
    assert p.prompt_names("voc", VOC_CLASSES) == VOC_CLASSES
    assert p.threshold_for("voc") == 0.4


def test_groupvit_renames():
    voc = get_protocol("groupvit").prompt_names("voc", VOC_CLASSES)
    assert "table" in voc and "plant" in voc and "monitor" in voc and "aeroplane" in voc
    assert "diningtable" not in voc
    context = get_protocol("groupvit").prompt_names("context", CONTEXT59_CLASSES)
    assert "airplane" in context and "aeroplane" not in context


def test_unknowns_are_named():
    with pytest.raises(ValueError, match="groupvit, segclip, tcl"):
        get_protocol("mmseg")
    with pytest.raises(ValueError, match="bg_threshold"):
        get_protocol("groupvit").threshold_for("ade20k")


def test_override_changes_only_given_fields():
    p = PROTOCOLS["groupvit"].override(mode="whole", crop=None)
    assert p.mode == "whole" and p.crop == 448 and PROTOCOLS["groupvit"].mode == "slide"
