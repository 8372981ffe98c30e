"""Bad input end to end: training skips and counts bad samples; bad files, vocabularies and
configs stop the run before any work, naming the file or key and the fix.

Every fixture is a genuine file: img2dataset-style webdataset tars holding a corrupt JPEG, an
empty caption, a 1×1 PNG, a 10000×10000 JPEG and a grayscale PNG; a VOC tree missing one label.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from PIL import Image, ImageDraw

from ovseg.cli import main
from ovseg.data.catalog import get_dataset_spec
from ovseg.data.classnames import VOC_CLASSES, DuplicateClassNameError
from ovseg.data.pairs import BadSample, open_rgb
from ovseg.data.pairs.decode import MAX_DECODE_SIDE
from tests.integration.test_resume import TINY_SEGCLIP, BatchRecorder
from tests.support.datasets import write_voc
from tests.support.segmenters import ColourSegmenter
from tests.unit.test_pairs import colour_image, encode, good_shards, write_shards

REPO = Path(__file__).resolve().parents[2]
HUGE = 10_000
TEST_MODEL = "tests.support.segmenters.ColourSegmenter"


@pytest.fixture(scope="module")
def huge_jpeg(tmp_path_factory) -> Path:
    """A 10000×10000 JPEG (1.6 MB on disk, 300 MB as decoded RGB)."""
    image = Image.new("RGB", (HUGE, HUGE), (200, 40, 40))
    ImageDraw.Draw(image).rectangle((1000, 1000, 6000, 7000), fill=(20, 200, 30))
    path = tmp_path_factory.mktemp("huge") / "huge.jpg"
    image.save(path, quality=80)
    return path


def _run_fit(tmp_path: Path, data: dict, *extra: str) -> list[dict]:
    config = json.loads(json.dumps(TINY_SEGCLIP))
    config["data"]["init_args"].update(data)
    log = tmp_path / "batches.jsonl"
    recorder = {"class_path": f"{BatchRecorder.__module__}.BatchRecorder", "init_args": {"path": str(log)}}
    config["trainer"].update(default_root_dir=str(tmp_path / "runs"), max_epochs=1, callbacks=[recorder])
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["fit", "-c", str(path), *extra])
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_shard_of_bad_samples_trains_on_the_good_ones_and_reports_the_rest(tmp_path, huge_jpeg, caplog):
    good = encode(colour_image(7, (48, 40)))
    grey_png = encode(colour_image(8, (40, 32)).convert("L"), "PNG")
    bad = [
        {"key": "corrupt", "jpg": good[:20] + b"\x00garbage" * 40, "txt": "a broken jpeg"},
        {"key": "empty", "jpg": good, "txt": "   "},
        {"key": "onepixel", "png": encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), "txt": "one pixel"},
        {"key": "huge", "jpg": huge_jpeg.read_bytes(), "txt": "a very large photo"},
        {"key": "grey", "png": grey_png, "txt": "a grayscale picture"},
    ]
    (shard,) = good_shards(1, 6)
    pattern = write_shards(tmp_path / "shards", [shard[:3] + bad + shard[3:]])
    source = {"kind": "webdataset", "urls": pattern, "shuffle": 0}
    data = {"sources": [source], "val_dataset": None, "drop_last": False}
    with caplog.at_level(logging.WARNING, logger="ovseg.data.image_text"):
        records = _run_fit(tmp_path, data)

    trained = [key.split("/")[-1] for record in records for key in record["keys"]]
    assert sorted(trained) == sorted([s["key"] for s in shard] + ["huge", "grey"])
    assert [record["step"] for record in records] == [1, 2]  # 8 usable samples, batches of 4
    assert "epoch 0: skipped 3 bad samples" in caplog.text
    assert "unreadable_image 1, empty_caption 1, unreadable_shard 0, too_small 1" in caplog.text


def test_a_huge_jpeg_decodes_reduced_without_the_full_image_in_memory(huge_jpeg):
    """In a fresh process, so that its peak memory is this decode's alone."""
    program = (
        "import resource, sys\n"
        "from ovseg.data.pairs import open_rgb\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "image = open_rgb(data)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(image.size[0], image.size[1], image.mode, (after - before) // 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, str(huge_jpeg)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    width, height, mode, grown_mb = result.stdout.split()
    assert (int(width), int(height), mode) == (MAX_DECODE_SIDE, MAX_DECODE_SIDE, "RGB")
    assert int(grown_mb) < 120, f"decoding grew the process by {grown_mb} MB (the full image is 300 MB)"


def test_image_size_bounds_and_grayscale():
    with pytest.raises(BadSample) as tiny:
        open_rgb(encode(Image.new("RGB", (1, 1)), "PNG"), "tiny")
    assert tiny.value.reason == "too_small" and "1×1" in str(tiny.value)
    huge_png = io.BytesIO()
    Image.new("1", (HUGE, HUGE)).save(huge_png, "PNG")  # no reduced decoding for PNG: skipped unread
    with pytest.raises(BadSample) as huge:
        open_rgb(huge_png.getvalue(), "huge")
    assert huge.value.reason == "too_large"
    grey = open_rgb(encode(colour_image(3, (40, 30)).convert("L"), "PNG"))
    assert grey.mode == "RGB" and grey.size == (40, 30)
    assert len(set(grey.getpixel((0, 0)))) == 1  # grey stays grey in all three channels


@pytest.mark.parametrize("subcommand", ["test", "fit"])
def test_a_missing_label_file_stops_evaluation_before_any_work(tmp_path, capsys, subcommand):
    write_voc(tmp_path / "data", [(40, 50), (30, 30), (50, 40)], seed=2)
    missing = tmp_path / "data" / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2007_000001.png"
    missing.unlink()
    runs = tmp_path / "runs"
    if subcommand == "test":
        args = ["test", "--model", TEST_MODEL, "--data", "voc", "--data-root", str(tmp_path / "data")]
    else:
        config = json.loads(json.dumps(TINY_SEGCLIP))
        config["data"]["init_args"].update(val_dataset="voc", data_root=str(tmp_path / "data"))
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
        args = ["fit", "-c", str(tmp_path / "run.yaml")]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--trainer.default_root_dir", str(runs)])
    message = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"'{missing}' is missing" in message
    assert "To prepare it:" in message and "--data-root" in message
    assert not runs.exists(), "nothing is written before the data is complete"


def test_a_class_list_with_duplicates_is_refused_naming_the_duplicate():
    voc = get_dataset_spec("voc")
    twice = replace(voc, name="my-voc", class_names=(*VOC_CLASSES[:8], "cat", *VOC_CLASSES[9:]))
    with pytest.raises(DuplicateClassNameError, match=r"dataset 'my-voc': .*'cat' at positions 7, 8"):
        ColourSegmenter(dataset=twice)
    renamed = replace(voc, name="tables", class_names=("diningtable", "table", "chair"))
    with pytest.raises(DuplicateClassNameError) as info:
        ColourSegmenter(dataset=renamed, protocol="groupvit")
    assert "under protocol 'groupvit'" in str(info.value)
    assert "'table' at positions 0, 1 (renamed from 'diningtable', 'table')" in str(info.value)
    assert "rename one of them" in str(info.value)


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("command line", "nonexistent"),
        ("yaml model", "nonexistent"),
        ("yaml trainer", "max_epoch"),
        ("misspelt prefix", "max_epoch"),
    ],
)
def test_an_unknown_config_key_is_named_and_nothing_is_written(tmp_path, capsys, where, key):
    config = json.loads(json.dumps(TINY_SEGCLIP))
    extra: list[str] = []
    if where == "command line":
        extra = ["--model.nonexistent", "3"]
    elif where == "yaml model":
        config["model"]["init_args"]["nonexistent"] = 3
    elif where == "yaml trainer":
        config["trainer"]["max_epoch"] = 3
    else:
        extra = ["--trainer.max_epoch", "3"]  # argparse would take it for max_epochs
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "-c", str(path), "--trainer.default_root_dir", str(runs), *extra])
    message = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert key in message.splitlines()[-1] or f"unknown option '{key}'" in message, message
    assert not runs.exists()
