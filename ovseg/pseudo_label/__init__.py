"""S-Seg+ pseudo-labels: a trained segmenter's predictions on unlabeled target images, as PNGs.

``pseudo_label_folder`` (``ovseg.pseudo_label.run``) writes a folder; ``ovseg.pseudo_label.files``
describes it; ``ovseg pseudo-label`` (``ovseg.pseudo_label.cli``) is the command;
``ovseg.data.pseudo_label_data.PseudoLabelDataModule`` trains ``SelfTrain`` on it.
"""

from __future__ import annotations

from ovseg.pseudo_label.files import MANIFEST, SETTINGS, read_label_png, read_manifest
from ovseg.pseudo_label.run import pseudo_label_folder

__all__ = ["MANIFEST", "SETTINGS", "pseudo_label_folder", "read_label_png", "read_manifest"]
