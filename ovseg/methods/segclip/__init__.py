"""SegCLIP (Luo et al., ICML 2023): CLIP ViT whose patches gather into learnable centers.

``SegCLIP`` is the LightningModule (``ovseg fit --model segclip``); ``SegCLIPModel`` the plain
model; ``checkpoint`` converts CLIP weights and the released ``segclip.bin``.
"""

from ovseg.methods.segclip.model import SegCLIPModel
from ovseg.methods.segclip.module import SegCLIP

__all__ = ["SegCLIP", "SegCLIPModel"]
