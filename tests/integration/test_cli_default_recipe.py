"""``ovseg fit --model NAME`` without ``-c`` trains the tiny CPU recipe on the synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ovseg import default_recipe
from ovseg.cli import expand_aliases, main
from ovseg.errors import OvsegUserError

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
FAST = ["--trainer.limit_val_batches", "0", "--data.num_workers", "0", "--data.batch_size", "4"]
ONE_EPOCH = ["--data.synthetic_length", "8"]  # 2 batches of 4


pytestmark = pytest.mark.usefixtures("one_compute_thread")


def recipe_of(argv: list[str]) -> str | None:
    """The ``-c`` value the expansion put in (not one the user gave), or None."""
    expanded = expand_aliases(argv)
    added = "-c" in expanded and "-c" not in argv
    return expanded[expanded.index("-c") + 1] if added else None


@pytest.mark.parametrize("model", ["sseg", "segclip"])
def test_fit_without_config_trains_the_tiny_recipe(tmp_path, capsys, model):
    runs = tmp_path / "runs"
    main(
        [
            "fit",
            "--model",
            model,
            "--trainer.max_steps",
            "2",
            *FAST,
            *ONE_EPOCH,
            "--trainer.default_root_dir",
            str(runs),
        ]
    )
    err = capsys.readouterr().err
    recipe = EXPERIMENTS / model / "tiny_cpu.yaml"
    assert f"using the tiny CPU recipe {recipe}" in err
    (config_path,) = runs.rglob("config.yaml")
    config = yaml.safe_load(config_path.read_text())
    tiny = yaml.safe_load(recipe.read_text())["model"]["init_args"]
    for key, value in tiny.items():  # the recipe's model, whatever its values are today
        assert config["model"]["init_args"][key] == value, key
    assert config["trainer"]["max_steps"] == 2  # the command line still wins over the recipe
    assert config["data"]["init_args"]["batch_size"] == 4
    assert len(list(runs.rglob("events.out.tfevents.*"))) == 1  # it trained and logged


def test_the_recipe_goes_first_so_later_flags_win():
    expanded = expand_aliases(["fit", "--model", "sseg", "--trainer.max_steps", "2"])
    assert expanded[:3] == ["fit", "-c", str(EXPERIMENTS / "sseg" / "tiny_cpu.yaml")]
    assert expanded[3:] == ["--model", "ovseg.methods.sseg.SSeg", "--trainer.max_steps", "2"]
    assert recipe_of(["test", "--model=segclip", "--data", "synthetic"]) is not None
    assert recipe_of(["fit", "--model", "sseg", "--ckpt_path", "last"]) is not None  # resume: same run
    assert recipe_of(["fit", "--model", "segclip", "--model.clip_pretrained", "null"]) is not None
    assert recipe_of(["fit", "--model", "sseg", "--model.dino_weights", "dino.pth"]) is not None  # masks only


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--model", "sseg", "--data", "voc", "--data-root", "/nowhere"],  # a real dataset
        ["test", "--model", "segclip", "--data=voc"],
        ["fit", "--model", "sseg", "-c", "my.yaml"],  # an explicit config
        ["fit", "--model", "sseg", "--config=my.yaml"],
        ["fit", "--model", "ovseg.methods.sseg.SSeg"],  # a class path, not a short name
        ["fit", "--model", "sseg", "--data.sources", "[{kind: webdataset, urls: x.tar}]"],
        ["test", "--model", "segclip", "--ckpt_path", "run.ckpt"],  # hparams come from the checkpoint
        ["fit", "--model", "segclip", "--model.weights", "segclip.bin"],  # released weights
        ["fit", "--model", "segclip", "--model.clip_pretrained=ViT-B-16.pt"],  # paper-sized CLIP
        ["fit", "--model", "sseg", "--model.init_args.backbone_weights", "swin_s.safetensors"],
        ["fit", "--model", "sseg", "--help"],
        ["fit", "--trainer.max_steps", "2"],  # no model named
    ],
)
def test_no_recipe_is_added(argv):
    assert recipe_of(argv) is None


def test_released_weights_through_ckpt_get_no_recipe(tmp_path):
    weights = tmp_path / "segclip.bin"
    weights.write_bytes(b"")
    assert recipe_of(["test", "--model", "segclip", "--ckpt", str(weights), "--data", "synthetic"]) is None
    checkpoint = tmp_path / "x.ckpt"
    checkpoint.write_bytes(b"")
    assert recipe_of(["test", "--model", "segclip", "--ckpt", str(checkpoint)]) is None


def test_a_missing_recipe_says_to_pass_a_config(tmp_path, monkeypatch):
    monkeypatch.setattr(default_recipe, "experiments_dir", lambda: tmp_path)
    with pytest.raises(OvsegUserError, match="Pass a config: -c"):
        expand_aliases(["fit", "--model", "sseg"])
