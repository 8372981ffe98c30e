"""S-Seg's costs: pseudo-mask K-Means (torch batched vs faiss per image), DINO, matcher, a tiny step.

Run: .venv/bin/python benchmarks/sseg_speed.py [--device cpu|cuda] [--images 128] [--repeats 5]
Prints medians over repeated runs after warm-up. The K-Means problem is the paper's: 128 images of
28 × 28 DINO ViT-S/8 patch features (384-d, L2-normalised), K = 8, 20 rounds, both backends from the
same k-means++ seeding; the named reference is faiss called once per image. The paper reports
0.002 s per 128 images on an accelerator.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from timing import median_seconds

from ovseg.data.transforms import ClipTokenizer
from ovseg.methods.sseg import SSeg
from ovseg.methods.sseg.kmeans import (
    faiss_kmeans,
    kmeans,
    kmeans_plusplus_init,
    resolve_backend,
    torch_kmeans,
)
from ovseg.methods.sseg.matcher import HungarianMatcher
from ovseg.nn.dino import DinoFeatures

TINY_RECIPE = Path(__file__).resolve().parents[1] / "experiments" / "sseg" / "tiny_cpu.yaml"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device, repeats: int, warmup: int = 1) -> float:
    def run() -> None:
        fn()
        synchronize(device)

    return median_seconds(run, repeats, warmup)


def interleaved_medians(fns: dict, device: torch.device, repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turn within every round (noise hits all alike)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device, 1, warmup=0))
    return {name: statistics.median(values) for name, values in times.items()}


def naive_cdist_kmeans(points: torch.Tensor, k: int, iters: int) -> torch.Tensor:
    """What a newcomer writes first: a Python loop over images with torch.cdist, for comparison."""
    labels = []
    for image in points:
        centroids = image[:k].clone()
        for _ in range(iters):
            one_hot = F.one_hot(torch.cdist(image, centroids).argmin(1), k).to(image.dtype)  # (M, K)
            centroids = (one_hot.T @ image) / one_hot.sum(0).clamp(min=1)[:, None]  # (K, D)
        labels.append(torch.cdist(image, centroids).argmin(1))
    return torch.stack(labels)


def bench_kmeans(args: argparse.Namespace, device: torch.device) -> None:
    generator = torch.Generator().manual_seed(0)
    points = F.normalize(torch.randn(args.images, args.grid**2, 384, generator=generator), dim=-1).to(device)
    print(f"K-Means: {args.images} images × {args.grid}×{args.grid} × 384-d, K={args.k}, {args.iters} rounds")
    candidates = {
        "torch batched (default chunks)": lambda: torch_kmeans(points, args.k, args.iters),
        "torch batched (one chunk)": lambda: torch_kmeans(points, args.k, args.iters, chunk_size=args.images),
        "faiss, one call per image (ref)": lambda: faiss_kmeans(points, args.k, args.iters),
        f"auto (= {resolve_backend('auto', device)})": lambda: kmeans(
            points, args.k, args.iters, backend="auto"
        ),
        "k-means++ seeding alone (in both)": lambda: kmeans_plusplus_init(points, args.k),
    }
    if args.naive:
        candidates["naive torch.cdist loop"] = lambda: naive_cdist_kmeans(points, args.k, args.iters)
    medians = interleaved_medians(candidates, device, args.repeats)
    reference = medians["faiss, one call per image (ref)"]
    for name, seconds in medians.items():
        print(f"  {name:34s} {seconds * 1e3:9.1f} ms   faiss/this {reference / seconds:6.2f}x")
    same = torch_kmeans(points[:8], args.k, args.iters)
    other = faiss_kmeans(points[:8], args.k, args.iters)
    gap = ((same.inertia - other.inertia).abs() / other.inertia).max().item()
    equal = float((same.labels == other.labels).float().mean())
    print(f"  torch vs faiss on 8 images: {equal:.4f} of labels equal, largest inertia gap {gap:.1e}")


def bench_dino(args: argparse.Namespace, device: torch.device) -> None:
    torch.manual_seed(0)
    dino = DinoFeatures(pretrained=False).to(device)
    images = torch.randn(args.dino_images, 3, args.grid * 8, args.grid * 8, device=device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
        seconds = timed(lambda: dino(images), device, max(1, args.repeats // 2))
    per_128 = seconds / args.dino_images * 128
    size = args.grid * 8
    print(f"DINO ViT-S/8 forward, {args.dino_images} images at {size} px ({dtype}): {seconds * 1e3:.1f} ms")
    print(f"  → {per_128:.2f} s per 128 images")


def bench_matcher(args: argparse.Namespace, device: torch.device) -> None:
    generator = torch.Generator().manual_seed(0)
    size = args.mask_size
    logits = torch.randn(args.matcher_images, 64, size, size, generator=generator).to(device)
    labels = torch.randint(0, 8, (args.matcher_images, size, size), generator=generator).to(device)
    targets = [
        (labels[b][None] == torch.arange(8, device=device)[:, None, None]).float() for b in range(len(labels))
    ]
    matcher = HungarianMatcher()
    seconds = timed(lambda: matcher(logits, targets), device, args.repeats)
    print(f"matcher: {args.matcher_images} images, N=64 × K=8, {size}×{size} masks: {seconds * 1e3:.1f} ms")


def bench_tiny_step(args: argparse.Namespace) -> None:
    init_args = yaml.safe_load(TINY_RECIPE.read_text())["model"]["init_args"]
    torch.manual_seed(0)
    model = SSeg(**init_args)
    model.log = model.log_dict = lambda *a, **k: None
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    captions = ["a photo of a red ball next to a box"] * 32
    batch = {
        "image": torch.randn(32, 3, 64, 64),
        "text": ClipTokenizer(init_args["context_length"])(captions),
        "caption": captions,
        "crop_box": torch.tensor([[0, 0, 64, 64]] * 32),
        "key": [str(i) for i in range(32)],
    }

    def step() -> None:
        loss = model.training_step(batch, 0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    seconds = median_seconds(step, args.repeats, warmup=2)
    print(f"tiny recipe training step (CPU, batch 32 at 64 px, pixel pseudo-masks): {seconds * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=128, help="images per K-Means call")
    parser.add_argument("--grid", type=int, default=28, help="DINO patch grid side (224 px / 8)")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--naive", action="store_true", help="also time a naive torch.cdist loop (slow)")
    parser.add_argument("--dino-images", type=int, help="images per DINO forward (default: 128 GPU, 4 CPU)")
    parser.add_argument("--matcher-images", type=int, default=32)
    parser.add_argument("--mask-size", type=int, default=56, help="side of the predicted masks (224 px / 4)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["kmeans", "dino", "matcher", "step"])
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.dino_images is None:
        args.dino_images = 128 if device.type == "cuda" else 4
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if "kmeans" not in args.skip:
        bench_kmeans(args, device)
    if "dino" not in args.skip:
        bench_dino(args, device)
    if "matcher" not in args.skip:
        bench_matcher(args, device)
    if "step" not in args.skip:
        bench_tiny_step(args)


if __name__ == "__main__":
    main()
