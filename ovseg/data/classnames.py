"""Class-name vocabularies of the evaluation benchmarks.

Every tuple holds the raw class names in the order of the dataset's label ids, spelled the way
mmsegmentation's dataset classes spell them, so that index ``i`` of a tuple is train id ``i`` of the
corresponding annotation maps. No tuple includes a background entry; datasets evaluated with a
background class (PASCAL VOC with 21 classes, COCO-Object with 81) prepend :data:`BACKGROUND` at id 0.
``check_unique_class_names`` refuses a vocabulary that names two classes alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from ovseg.errors import OvsegUserError

# PASCAL VOC 2012, mmseg ``PascalVOCDataset`` order with its leading "background" removed (20 classes).
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip

# PASCAL Context, mmseg ``PascalContext59Dataset`` order (alphabetical, 59 classes, no background).
CONTEXT59_CLASSES: tuple[str, ...] = (
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
    "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow",
    "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground",
    "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform",
    "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa",
    "table", "track", "train", "tree", "truck", "tvmonitor", "wall", "water", "window", "wood",
)  # fmt: skip

# COCO-Object: the 80 COCO thing classes in COCO category-id order (the first 80 of COCO-Stuff).
COCO_OBJECT_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

# COCO-Stuff-164k, mmseg ``COCOStuffDataset`` order: the 80 things above, then 91 stuff (171 classes).
COCO_STUFF_CLASSES: tuple[str, ...] = (
    *COCO_OBJECT_CLASSES,
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage",
    "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds",
    "counter", "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble",
    "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower", "fog", "food-other",
    "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves",
    "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing",
    "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf",
    "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)  # fmt: skip

# ADE20K (SceneParsing, 150 classes), mmseg ``ADE20KDataset`` order. mmseg spells id 7 "bed " with a
# trailing space; it is kept as is (CLIP's BPE tokenizer splits "bed ." and "bed." identically).
ADE20K_CLASSES: tuple[str, ...] = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed ", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing",
    "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
    "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister",
    "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
)  # fmt: skip

# Cityscapes: the 19 evaluation (train-id) classes, mmseg ``CityscapesDataset`` order.
CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle",
)  # fmt: skip

# Name of the extra class at id 0 for benchmarks evaluated with background (VOC-21, COCO-Object-81).
BACKGROUND = "background"

# ovseg's embedded synthetic benchmark: one shape family per category (``ovseg.data.synthetic``).
SYNTHETIC_CLASSES: tuple[str, ...] = ("ball", "box", "star", "ring", "cross", "moon", "heart", "arrow")


class DuplicateClassNameError(OvsegUserError, ValueError):
    """A vocabulary names two classes alike: both would get one text embedding."""


def check_unique_class_names(
    names: Sequence[str], source: str, raw_names: Sequence[str] | None = None
) -> None:
    """Raise ``DuplicateClassNameError`` naming every repeated name of ``source`` and where it is.

    Args:
        names: the class names, in label order.
        source: what the names belong to, for the message ("dataset 'voc'").
        raw_names: the names before a protocol renamed them, to say which ones collided.
    """
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names):
        positions.setdefault(name.strip().lower(), []).append(position)
    repeated = {name: where for name, where in positions.items() if len(where) > 1}
    if not repeated:
        return
    details = []
    for name, where in repeated.items():
        origin = f" (renamed from {', '.join(repr(raw_names[i]) for i in where)})" if raw_names else ""
        details.append(f"'{name}' at positions {', '.join(map(str, where))}{origin}")
    raise DuplicateClassNameError(
        f"{source}: class names must be unique, but {'; '.join(details)} of its class list repeat. Two "
        "classes with one name get one text embedding, so the metric could never tell them apart: "
        "rename one of them (or merge their labels)."
    )
