"""The pseudo-mask oracle: how good could a method built on a source's masks get?

sources.py   class-agnostic mask sources (dino, pixel, felzenszwalb, segclip): image → segment ids
majority.py  each mask takes its majority ground-truth label
evaluate.py  ``oracle_miou(source, data, limit)``: the painted masks scored by ``SemSegIoU``
cli.py       ``ovseg oracle --masks NAME --data NAME``
"""

from ovseg.oracle.evaluate import oracle_miou
from ovseg.oracle.majority import majority_labels

__all__ = ["majority_labels", "oracle_miou"]
