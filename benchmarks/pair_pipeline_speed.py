"""How fast the image-text pair pipeline runs, in images per second, against a bare PIL decode.

Writes webdataset shards of JPEGs (short side 256, synthetic content) into a temporary folder, then
times, as medians of repeated epochs after a warm-up epoch:
  * the reference: bare PIL decode of the same JPEG bytes (one process);
  * the pipeline: tar reading + decode + RandomResizedCrop 224 + normalise + tokenise + batching,
    through the data module's training stream with 0, 1 and 2 dataloader workers;
  * Felzenszwalb superpixels per image at short side 224 (SegCLIP's settings), and the crop step.

Run: .venv/bin/python benchmarks/pair_pipeline_speed.py [--images 512] [--repeats 3] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from PIL import Image
from timing import median_seconds

from ovseg.data.pair_batches import EpochDataLoader, PairTransform, StreamPairTrainSet
from ovseg.data.pairs import Reader, WebDatasetPairs
from ovseg.data.superpixels import SuperpixelSettings, compute_superpixels, crop_labels
from ovseg.data.transforms import NORMALIZATIONS, CropBox

WORDS = ("a", "photo", "of", "the", "small", "red", "dog", "cat", "car", "tree", "house", "near", "on", "big")


def synthetic_jpeg(rng: np.random.Generator, short_side: int) -> bytes:
    """A smooth random picture with grain, JPEG-encoded; landscape or portrait."""
    long_side = int(short_side * rng.uniform(1.0, 1.5))
    width, height = (long_side, short_side) if rng.random() < 0.5 else (short_side, long_side)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))
    grain = rng.normal(0, 12, image.shape)
    pixels = np.clip(image + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_shards(folder: Path, images: int, per_shard: int, short_side: int) -> str:
    rng = np.random.default_rng(0)
    shards = (images + per_shard - 1) // per_shard
    for shard in range(shards):
        with wds.TarWriter(str(folder / f"{shard:05d}.tar")) as writer:
            for item in range(min(per_shard, images - shard * per_shard)):
                caption = " ".join(rng.choice(WORDS, size=rng.integers(5, 15)))
                writer.write(
                    {
                        "__key__": f"{shard:05d}{item:04d}",
                        "jpg": synthetic_jpeg(rng, short_side),
                        "txt": caption,
                    }
                )
    return str(folder / f"{{00000..{shards - 1:05d}}}.tar")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--short-side", type=int, default=256, help="short side of the written JPEGs")
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--per-shard", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--superpixel-images", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        pattern = write_shards(Path(tmp), args.images, args.per_shard, args.short_side)
        source = WebDatasetPairs(pattern, shuffle=0)
        encoded = [record["image"] for record in source.records(0, Reader())]
        n = len(encoded)
        print(f"{n} JPEGs, short side {args.short_side}, {args.per_shard} per shard; torch threads 1")

        def decode_all() -> None:
            for data in encoded:
                Image.open(io.BytesIO(data)).convert("RGB")

        reference = n / median_seconds(decode_all, args.repeats)
        print(f"reference: bare PIL decode          {reference:8.1f} img/s  (1 process)")

        mean, std = NORMALIZATIONS["clip"]
        transform = PairTransform(args.crop, (0.5, 1.0), mean, std, context_length=77)
        stream = StreamPairTrainSet(source, transform, args.batch, drop_last=False, num_workers=0)
        for workers in args.workers:
            stream.num_workers = workers
            loader = EpochDataLoader(stream, batch_size=None, num_workers=workers)

            def one_epoch(loader: EpochDataLoader = loader) -> None:
                seen = sum(len(batch["key"]) for batch in loader)
                assert seen == n, seen

            rate = n / median_seconds(one_epoch, args.repeats)
            per_worker = rate / max(1, workers)
            print(
                f"pipeline, {workers} workers               {rate:8.1f} img/s  "
                f"({per_worker:6.1f} per worker, {rate / reference:4.2f}x the bare decode)"
            )

        pictures = [Image.open(io.BytesIO(data)).convert("RGB") for data in encoded[: args.superpixel_images]]
        settings = SuperpixelSettings()
        times, maps = [], []
        compute_superpixels(pictures[0], settings)
        for picture in pictures:
            start = time.perf_counter()
            maps.append(compute_superpixels(picture, settings))
            times.append(time.perf_counter() - start)
        felzenszwalb_ms = statistics.median(times) * 1e3
        box = CropBox(10, 20, 200, 180)
        crop_ms = 1e3 * median_seconds(lambda: crop_labels(maps[0], box, pictures[0].size, args.crop), 20, 3)
        decode_ms = 1e3 / reference
        print(
            f"superpixels at short side {settings.short_side}: felzenszwalb {felzenszwalb_ms:6.1f} ms/img "
            f"({felzenszwalb_ms / decode_ms:4.1f}x a decode), crop+resize of the map {crop_ms:5.2f} ms"
        )


if __name__ == "__main__":
    main()
