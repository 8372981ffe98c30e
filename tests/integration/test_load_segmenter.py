"""``ovseg.load_segmenter``: a trained selftrain model back from its .ckpt and its export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from ovseg import export_cli
from ovseg.data.catalog import get_dataset_spec
from ovseg.data.synthetic.scene import render_scene
from ovseg.errors import OvsegUserError
from ovseg.load_segmenter import load_segmenter, model_classes, use_dataset
from ovseg.methods.selftrain import ClassMismatchError, SelfTrain
from tests.support.tiny_runs import REPO, fit_one_step, fit_selftrain_one_step

SYNTHETIC = get_dataset_spec("synthetic")  # background + 8 classes

pytestmark = pytest.mark.usefixtures("one_compute_thread")


@pytest.fixture(scope="module")
def selftrain_checkpoint(tmp_path_factory) -> Path:
    """A tiny SelfTrain trained for one step on a one-step S-Seg's pseudo-labels."""
    root = tmp_path_factory.mktemp("runs")
    (sseg,) = fit_one_step("sseg", root / "sseg").rglob("*.ckpt")
    (checkpoint,) = fit_selftrain_one_step(sseg, root / "selftrain").rglob("*.ckpt")
    return checkpoint


def in_memory_model(checkpoint: Path) -> SelfTrain:
    """The trained model built by hand: the tiny recipe's SelfTrain, the checkpoint's weights."""
    recipe = yaml.safe_load((REPO / "experiments" / "selftrain" / "tiny_cpu.yaml").read_text())
    model = SelfTrain(**recipe["model"]["init_args"], dataset=SYNTHETIC)
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["state_dict"])
    return model.eval()


def scenes() -> torch.Tensor:
    """Two synthetic evaluation scenes, uint8 (2, 3, 64, 64)."""
    images = [torch.from_numpy(render_scene(0, index, "eval", 64).image.copy()) for index in range(2)]
    return torch.stack(images).permute(0, 3, 1, 2)  # (2, 3, 64, 64)


def test_a_selftrain_checkpoint_and_its_export_predict_like_the_trained_model(selftrain_checkpoint, tmp_path):
    exported = tmp_path / "selftrain.safetensors"
    assert export_cli.main(["--ckpt", str(selftrain_checkpoint), "--out", str(exported)]) == 0
    reference = in_memory_model(selftrain_checkpoint)
    images = reference.normalize(scenes())  # (2, 3, 64, 64)
    expected = reference.predict_labels(images, (64, 64))  # (2, 64, 64)
    for path, method in ((selftrain_checkpoint, None), (exported, "selftrain")):
        loaded = load_segmenter(path, method, dataset=SYNTHETIC)
        assert isinstance(loaded, SelfTrain) and not loaded.training
        assert model_classes(loaded) == SYNTHETIC.class_names and loaded.predicts_background()
        assert torch.equal(loaded.predict_labels(images, (64, 64)), expected)
    later = use_dataset(load_segmenter(exported), SYNTHETIC)  # no dataset first: checked, then set
    assert torch.equal(later.predict_labels(images, (64, 64)), expected)


def test_a_selftrain_file_refuses_what_it_cannot_be(selftrain_checkpoint, tmp_path):
    with pytest.raises(OvsegUserError, match="is a selftrain checkpoint, but this needs a sseg one"):
        load_segmenter(selftrain_checkpoint, "sseg")
    with pytest.raises(ClassMismatchError, match="dataset 'voc' has 20 classes"):
        load_segmenter(selftrain_checkpoint, dataset=get_dataset_spec("voc"))
    with pytest.raises(ClassMismatchError, match="dataset 'voc' has 20 classes"):
        use_dataset(load_segmenter(selftrain_checkpoint), get_dataset_spec("voc"))
    bare = tmp_path / "selftrain.pt"
    torch.save(torch.load(selftrain_checkpoint, weights_only=True)["state_dict"], bare)
    with pytest.raises(OvsegUserError, match="a selftrain model is loaded from one of those"):
        load_segmenter(bare, "selftrain")
