"""Sanity checks for the class-name vocabularies and the prompt-template sets."""

import pytest

from ovseg.data.classnames import (
    ADE20K_CLASSES,
    BACKGROUND,
    CITYSCAPES_CLASSES,
    COCO_OBJECT_CLASSES,
    COCO_STUFF_CLASSES,
    CONTEXT59_CLASSES,
    VOC_CLASSES,
)
from ovseg.data.templates import (
    IMAGENET_TEMPLATES,
    SIMPLE_TEMPLATES,
    TCL_TEMPLATES,
    TEMPLATE_SETS,
    get_templates,
)

CLASS_LISTS = {
    "voc": (VOC_CLASSES, 20),
    "context59": (CONTEXT59_CLASSES, 59),
    "coco_object": (COCO_OBJECT_CLASSES, 80),
    "coco_stuff": (COCO_STUFF_CLASSES, 171),
    "ade20k": (ADE20K_CLASSES, 150),
    "cityscapes": (CITYSCAPES_CLASSES, 19),
}


@pytest.mark.parametrize("name", sorted(CLASS_LISTS))
def test_class_list_size_uniqueness_and_no_background(name):
    classes, expected = CLASS_LISTS[name]
    assert isinstance(classes, tuple)
    assert len(classes) == expected
    assert len(set(classes)) == len(classes)
    assert BACKGROUND not in classes
    assert all(isinstance(c, str) and c.strip() for c in classes)


@pytest.mark.parametrize(
    ("classes", "index", "expected"),
    [
        (VOC_CLASSES, 0, "aeroplane"),
        (VOC_CLASSES, 10, "diningtable"),
        (VOC_CLASSES, -1, "tvmonitor"),
        (CONTEXT59_CLASSES, 0, "aeroplane"),
        (CONTEXT59_CLASSES, 3, "bedclothes"),
        (CONTEXT59_CLASSES, -1, "wood"),
        (COCO_OBJECT_CLASSES, 0, "person"),
        (COCO_OBJECT_CLASSES, 9, "traffic light"),
        (COCO_OBJECT_CLASSES, -1, "toothbrush"),
        (COCO_STUFF_CLASSES, 0, "person"),
        (COCO_STUFF_CLASSES, 80, "banner"),
        (COCO_STUFF_CLASSES, 133, "playingfield"),
        (COCO_STUFF_CLASSES, -1, "wood"),
        (ADE20K_CLASSES, 0, "wall"),
        (ADE20K_CLASSES, 7, "bed "),
        (ADE20K_CLASSES, 56, "pool table"),
        (ADE20K_CLASSES, -1, "flag"),
        (CITYSCAPES_CLASSES, 0, "road"),
        (CITYSCAPES_CLASSES, 6, "traffic light"),
        (CITYSCAPES_CLASSES, -1, "bicycle"),
    ],
)
def test_class_names_at_known_indices(classes, index, expected):
    assert classes[index] == expected


def test_coco_stuff_starts_with_the_coco_things():
    assert COCO_STUFF_CLASSES[:80] == COCO_OBJECT_CLASSES


def test_background_name():
    assert BACKGROUND == "background"


def test_template_set_sizes():
    assert len(SIMPLE_TEMPLATES) == 1
    assert len(TCL_TEMPLATES) == 9
    assert len(IMAGENET_TEMPLATES) == 80
    assert SIMPLE_TEMPLATES == ("a photo of a {}.",)


def test_template_sets_registry():
    assert set(TEMPLATE_SETS) == {"simple", "tcl", "imagenet"}
    assert TEMPLATE_SETS["simple"] is SIMPLE_TEMPLATES
    assert TEMPLATE_SETS["tcl"] is TCL_TEMPLATES
    assert TEMPLATE_SETS["imagenet"] is IMAGENET_TEMPLATES
    for name, templates in TEMPLATE_SETS.items():
        assert get_templates(name) is templates


@pytest.mark.parametrize("name", sorted(TEMPLATE_SETS))
def test_templates_have_one_placeholder_and_format(name):
    templates = TEMPLATE_SETS[name]
    assert len(set(templates)) == len(templates)
    for template in templates:
        assert template.count("{}") == 1
        assert template.count("{") == 1 and template.count("}") == 1
        text = template.format("cat")
        assert "cat" in text
        assert "{" not in text and "}" not in text


def test_template_order_spot_checks():
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert IMAGENET_TEMPLATES[-1] == "a tattoo of the {}."
    assert TCL_TEMPLATES[0] == "itap of a {}."
    assert TCL_TEMPLATES[-2:] == ("a photo of many {}.", "a photo of {}s.")
    assert set(TCL_TEMPLATES[:8]) <= set(IMAGENET_TEMPLATES)


def test_unknown_template_set_raises():
    with pytest.raises(ValueError, match="simple"):
        get_templates("nope")
