"""S-Seg (Lai, CVPR 2025): a MaskFormer trained from DINO pseudo-masks and image-text pairs.

Modules: ``backbone`` (timm multi-scale features), ``pixel_decoder`` (FPN), ``transformer_decoder``
(queries → masks), ``maskformer`` (the image model: masks + mask features), ``kmeans`` (torch and
faiss K-Means), ``pseudo_masks`` (DINO or colour clusters → masks), ``cache`` and ``prepare``
(``ovseg prepare pseudo-masks``), ``sources`` (which pseudo-masks a run uses), ``matcher``
(Hungarian), ``criterion`` (dice + focal), ``weights`` (loading weight files) and ``module`` (the
``SSeg`` LightningModule).
"""

from __future__ import annotations

from ovseg.methods.sseg.module import SSeg

__all__ = ["SSeg"]
