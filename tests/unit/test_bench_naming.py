"""Naming without background: background pixels ignored, each other pixel its best class, no threshold."""

from __future__ import annotations

import pytest
import torch

from ovseg.bench.naming import mean_recognition_auc, naming_without_background, roc_auc
from ovseg.data.catalog import get_dataset_spec
from ovseg.data.segmentation import SegDataModule
from ovseg.methods.base import OpenVocabSegmenter
from tests.support.datasets import write_voc
from tests.support.segmenters import ColourSegmenter

VOC = get_dataset_spec("voc")


class MisnamingSegmenter(ColourSegmenter):
    """Finds every object but gives it the next class's name."""

    def build_class_embeddings(self) -> torch.Tensor:
        return super().build_class_embeddings().roll(1, dims=0)  # (C, V): class c's row is c − 1's


class BackgroundChannelSegmenter(ColourSegmenter):
    """Scores background itself (channel 0, like selftrain), so strongly that it wins every pixel."""

    def predicts_background(self) -> bool:
        return True

    def window_scores(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        classes = self.class_scores(images, class_embeddings)  # (B, C, H, W)
        return torch.cat([torch.full_like(classes[:, :1], 10.0), classes], dim=1)  # (B, 1 + C, H, W)


@pytest.fixture(scope="module")
def voc_data(tmp_path_factory) -> SegDataModule:
    root = tmp_path_factory.mktemp("data")
    write_voc(root, [(48, 64), (64, 48), (56, 56), (40, 72)], seed=3)
    return SegDataModule("voc", data_root=str(root), num_workers=0)


def first_labels(model, data: SegDataModule) -> torch.Tensor:
    batch = next(iter(data.test_dataloader()))
    return model.predict_labels(model.normalize(batch["image"]), tuple(batch["label"].shape[-2:]))


def test_objects_are_named_even_when_no_pixel_passes_the_background_threshold(voc_data):
    model = ColourSegmenter(dataset=VOC, bg_threshold=1.01, bg_rule="threshold").eval()  # all background
    assert first_labels(model, voc_data).eq(0).all()
    naming = naming_without_background(model, voc_data)
    assert naming["mIoU"] > 95.0  # JPEG colours only blur the object edges
    assert naming["class_names"] == list(VOC.class_names) and len(naming["IoU"]) == 20
    assert naming["uniform_chance"] < 10.0
    assert naming["recognition_auc"] == 1.0  # its image scores rank every image holding a class first


def test_wrong_names_score_zero(voc_data):
    naming = naming_without_background(MisnamingSegmenter(dataset=VOC).eval(), voc_data)
    assert naming["mIoU"] < 1.0
    assert naming["recognition_auc"] < 0.75  # it recognises the neighbouring class, not this one


def test_a_method_scoring_background_itself_is_named_from_its_class_channels(voc_data):
    model = BackgroundChannelSegmenter(dataset=VOC).eval()
    assert first_labels(model, voc_data).eq(0).all()
    assert naming_without_background(model, voc_data)["mIoU"] > 95.0


class NoImageClassifier(ColourSegmenter):
    classify_images = OpenVocabSegmenter.classify_images  # like selftrain: no image-level classifier


def test_a_method_without_an_image_classifier_has_no_recognition_figure(voc_data):
    naming = naming_without_background(NoImageClassifier(dataset=VOC).eval(), voc_data)
    assert naming["mIoU"] > 95.0 and naming["recognition_auc"] is None


def test_roc_auc_counts_ordered_pairs_and_half_of_the_ties():
    scores = torch.tensor([0.9, 0.4, 0.4, 0.1])
    assert roc_auc(scores, torch.tensor([True, True, False, False])) == 0.875  # (2 + 1 + 0.5) / 4
    assert roc_auc(scores, torch.tensor([False, False, True, True])) == 0.125
    assert roc_auc(scores, torch.tensor([True] * 4)) != roc_auc(scores, torch.tensor([True] * 4))  # NaN
    holds = torch.tensor([[True, True], [False, True], [True, True]])  # class 1 in every image: no AUC
    assert mean_recognition_auc(torch.tensor([[0.8, 0.1], [0.2, 0.5], [0.6, 0.3]]), holds) == 1.0


def test_a_benchmark_without_background_has_no_separate_naming_score(tmp_path):
    write_voc(tmp_path, [(48, 48)])
    data = SegDataModule("voc20", data_root=str(tmp_path), num_workers=0)
    model = ColourSegmenter(dataset=get_dataset_spec("voc20")).eval()
    assert naming_without_background(model, data) is None
