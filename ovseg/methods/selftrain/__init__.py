"""S-Seg+ self-training: a ViT + UperNet segmenter trained on a trained model's pseudo-labels.

``module.SelfTrain`` (LightningModule) wires ``model.UperNetViT`` (``backbone.ViTFeatures`` →
``upernet`` neck and heads), cross-entropy and ``optim`` (layer-wise decay AdamW). Its data:
``ovseg.data.pseudo_label_data.PseudoLabelDataModule`` over an ``ovseg pseudo-label`` folder.
"""

from __future__ import annotations

from ovseg.methods.selftrain.module import ClassMismatchError, SelfTrain

__all__ = ["ClassMismatchError", "SelfTrain"]
