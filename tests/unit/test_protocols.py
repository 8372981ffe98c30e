"""Protocol presets are the releases' values, rules included."""

from __future__ import annotations

import pytest

from ovseg.data.classnames import CONTEXT59_CLASSES, VOC_CLASSES
from ovseg.data.templates import get_templates
from ovseg.errors import OvsegUserError
from ovseg.evaluation.protocols import PROTOCOLS, get_protocol


def test_groupvit_is_the_default_setting_of_the_field():
    p = get_protocol("groupvit")
    assert (p.short_side, p.mode, p.crop, p.stride, p.templates) == (448, "slide", 448, 224, "simple")
    assert [p.threshold_for(f) for f in ("voc", "context", "coco")] == [0.95, 0.35, 0.95]
    assert (p.top_k_classes, p.top_k_combine, p.bg_rule) == (5, "product", "window")  # the release's rules


def test_groupvit_plain_keeps_everything_but_the_rules():
    plain, groupvit = get_protocol("groupvit-plain"), get_protocol("groupvit")
    assert (plain.top_k_classes, plain.bg_rule) == (None, "threshold")
    assert plain.override(name="groupvit", top_k_classes=5, bg_rule="window") == groupvit


def test_segclip_release_settings():
    p = get_protocol("segclip")
    assert (p.short_side, p.crop, p.stride, p.top_k_classes) == (224, 224, 224, 5)
    assert (p.top_k_combine, p.bg_rule) == ("product", "window")
    assert [p.threshold_for(f) for f in ("voc", "context", "coco")] == [0.80, 0.25, 0.65]


def test_tcl_uses_nine_templates_and_raw_names():
    p = get_protocol("tcl")
    assert len(get_templates(p.templates)) == 9
    assert p.prompt_names("voc", VOC_CLASSES) == VOC_CLASSES
    assert p.threshold_for("voc") == 0.4
    assert (p.top_k_classes, p.bg_rule) == (None, "constant")


def test_groupvit_renames():
    voc = get_protocol("groupvit").prompt_names("voc", VOC_CLASSES)
    assert "table" in voc and "plant" in voc and "monitor" in voc and "aeroplane" in voc
    assert "diningtable" not in voc
    context = get_protocol("groupvit").prompt_names("context", CONTEXT59_CLASSES)
    assert "airplane" in context and "aeroplane" not in context


def test_unknowns_are_named():
    with pytest.raises(ValueError, match="groupvit, groupvit-plain, segclip, tcl"):
        get_protocol("mmseg")
    with pytest.raises(ValueError, match="bg_threshold"):
        get_protocol("groupvit").threshold_for("ade20k")


def test_override_changes_only_given_fields():
    p = PROTOCOLS["groupvit"].override(mode="whole", crop=None)
    assert p.mode == "whole" and p.crop == 448 and PROTOCOLS["groupvit"].mode == "slide"


def test_rules_override_per_run_and_zero_turns_the_filter_off():
    p = PROTOCOLS["groupvit"].override(top_k_classes=0, bg_rule="constant", top_k_combine="filtered")
    assert (p.top_k_classes, p.bg_rule, p.top_k_combine) == (None, "constant", "filtered")
    assert PROTOCOLS["tcl"].override(top_k_classes=3).top_k_classes == 3


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"bg_rule": "max"}, "window, constant, threshold"),
        ({"top_k_combine": "sum"}, "product, filtered"),
        ({"top_k_classes": -2}, "at least 1"),
    ],
)
def test_bad_rules_are_named(change, named):
    with pytest.raises(OvsegUserError, match=named):
        PROTOCOLS["groupvit"].override(**change)
