"""Captions of the synthetic benchmark: built from the plan, so they only ever name drawn categories."""

from __future__ import annotations

import numpy as np

from ovseg.data.classnames import SYNTHETIC_CLASSES
from ovseg.data.synthetic.layout import REFERENCE_SIZE, Background, Object

_NUMBERS = {2: "two", 3: "three", 4: "four"}
_TEMPLATES = (
    "{objects}",
    "a photo of {objects}",
    "an image of {objects}",
    "a picture showing {objects}",
    "a drawing of {objects}",
    "a simple scene with {objects}",
    "there {be} {objects}",
    "{objects} on a {background} background",
    "{objects} against a {background} backdrop",
    "a {background} background with {objects}",
)


def _plural(name: str) -> str:
    """English plural of a category name (box -> boxes, cross -> crosses)."""
    return name + "es" if name.endswith(("x", "s")) else name + "s"


def _hue_word(hue: float, val: float) -> str:
    """Basic colour name of a hue in degrees."""
    if hue < 15 or hue >= 345:
        return "red"
    if hue < 42:
        return "brown" if val < 0.6 else "orange"
    if hue < 70:
        return "yellow"
    if hue < 160:
        return "green"
    if hue < 195:
        return "cyan"
    if hue < 255:
        return "blue"
    return "purple" if hue < 290 else "pink"


def _adjectives(obj: Object) -> dict[str, str]:
    """True adjectives of an object by kind: size, texture, colour (absent when not clear)."""
    words: dict[str, str] = {}
    radius = obj.radius * REFERENCE_SIZE
    if radius < 12.5:
        words["size"] = "small"
    elif radius > 17.0:
        words["size"] = "large"
    if obj.texture in ("stripes", "spots") and obj.amplitude >= 0.2:
        words["texture"] = "striped" if obj.texture == "stripes" else "spotted"
    if obj.sat >= 0.45 and obj.val >= 0.45:
        colour = _hue_word(obj.hue, obj.val)
        if obj.val < 0.6 and colour != "brown":
            colour = "dark " + colour
        elif obj.val > 0.85 and obj.sat > 0.75:
            colour = "bright " + colour
        words["colour"] = colour
    return words


def _position(obj: Object) -> str | None:
    """Where an object clearly is in the frame, or None."""
    horizontal = "left" if obj.cx < 0.35 else "right" if obj.cx > 0.65 else None
    vertical = "top" if obj.cy < 0.35 else "bottom" if obj.cy > 0.65 else None
    if horizontal and vertical:
        return f"in the {vertical} {horizontal} corner"
    if horizontal:
        return f"on the {horizontal}"
    return f"at the {vertical}" if vertical else None


def _noun_phrase(category: int, objs: list[Object], rng: np.random.Generator) -> str:
    """'a small red ball', 'two stars', 'the striped box on the left', ..."""
    name = SYNTHETIC_CLASSES[category]
    shared = _adjectives(objs[0])
    for obj in objs[1:]:
        other = _adjectives(obj)
        shared = {kind: word for kind, word in shared.items() if other.get(kind) == word}
    kinds = [kind for kind in ("size", "texture", "colour") if kind in shared and rng.random() < 0.45]
    words = [shared[kind] for kind in kinds[:2]]
    if len(objs) == 1:
        det = str(rng.choice(["a", "a", "a", "the", "one"]))
        first = words[0] if words else name
        det = "an" if det == "a" and first[0] in "aeiou" else det
        phrase = " ".join([det, *words, name])
        where = _position(objs[0])
        return f"{phrase} {where}" if where and rng.random() < 0.25 else phrase
    count = str(rng.choice([_NUMBERS[len(objs)]] * 3 + ["some"] + (["a pair of"] if len(objs) == 2 else [])))
    return " ".join([count, *words, _plural(name)])


def _join(phrases: list[str], rng: np.random.Generator) -> str:
    """Join noun phrases: 'A and B', 'A next to B', 'A, B and C'."""
    if len(phrases) == 1:
        return phrases[0]
    if len(phrases) == 2:
        return str(rng.choice([" and ", " and ", " next to ", " beside ", " with "])).join(phrases)
    return ", ".join(phrases[:-1]) + str(rng.choice([" and ", ", and "])) + phrases[-1]


def _background_words(bg: Background) -> str:
    """True description of the background, e.g. 'striped light grey'."""
    tone = "dark grey" if bg.val < 0.45 else "light grey" if bg.val > 0.7 else "grey"
    pattern = {"stripes": "striped ", "noise": "mottled ", "blotches": "textured "}.get(bg.pattern, "")
    return pattern + tone


def write_caption(objects: list[Object], bg: Background, rng: np.random.Generator) -> str:
    """Describe some or all of the drawn objects; at least one is always named."""
    groups: dict[int, list[Object]] = {}
    for obj in objects:
        groups.setdefault(obj.category, []).append(obj)
    categories = list(groups)
    if len(categories) > 1 and rng.random() < 0.35:
        keep = int(rng.integers(1, len(categories)))
        categories = [categories[i] for i in sorted(rng.choice(len(categories), keep, replace=False))]
    order = rng.permutation(len(categories))
    phrases = [_noun_phrase(categories[i], groups[categories[i]], rng) for i in order]
    be = "is" if len(groups[categories[order[0]]]) == 1 else "are"
    template = str(rng.choice(_TEMPLATES))
    text = template.format(objects=_join(phrases, rng), background=_background_words(bg), be=be)
    if rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    return text + "." if rng.random() < 0.6 else text
