"""SegCLIP's speed: its image forward against open_clip's plain ViT-B-16, and a tiny training step.

Run: .venv/bin/python benchmarks/segclip_speed.py [--sizes 224 448] [--batch 1] [--repeats 10]
     [--threads N] [--device cpu|cuda] [--precision fp32|bf16] [--interpolate]

Both image models get the same random CLIP weights (QuickGELU, as OpenAI's ViT-B/16), the same
input and the same threads. SegCLIP runs its last two blocks on 8 group tokens instead of all
patches, so its forward should cost less than plain CLIP's. ``--interpolate`` keeps SegCLIP at its
224 px positional embedding (resampled per forward, as at evaluation) instead of a native one.
The training step is the tiny CPU recipe (experiments/segclip/tiny_cpu.yaml): forward, the three
losses, backward and AdamW on a synthetic-shaped batch.
"""

from __future__ import annotations

import argparse
import statistics
from contextlib import nullcontext
from pathlib import Path

import torch
import yaml
from timing import median_seconds

from ovseg.data.transforms import ClipTokenizer
from ovseg.methods.segclip import SegCLIP, SegCLIPModel
from ovseg.methods.segclip.checkpoint import load_clip_weights
from ovseg.methods.segclip.optim import build_optimizer
from ovseg.nn.clip import create_open_clip

TINY_YAML = Path(__file__).resolve().parents[1] / "experiments" / "segclip" / "tiny_cpu.yaml"


def synced(fn, device: str):
    def run():
        fn()
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def timed(fn, device: str, repeats: int) -> float:
    return median_seconds(synced(fn, device), repeats, warmup=3)


def paired(fn_a, fn_b, device: str, repeats: int) -> tuple[float, float]:
    """Medians of two functions timed in alternation, so that load changes hit both alike."""
    run_a, run_b = synced(fn_a, device), synced(fn_b, device)
    times_a, times_b = [], []
    for _ in range(3):
        run_a(), run_b()
    for _ in range(repeats):
        times_a.append(median_seconds(run_a, 1, warmup=0))
        times_b.append(median_seconds(run_b, 1, warmup=0))
    return statistics.median(times_a), statistics.median(times_b)


def image_forward(args: argparse.Namespace, size: int) -> tuple[float, float]:
    """(SegCLIP seconds, open_clip seconds) per image forward at ``size`` px."""
    torch.manual_seed(0)
    reference = create_open_clip("ViT-B-16", force_quick_gelu=True, force_image_size=size).eval()
    model_size = 224 if args.interpolate else size
    ours = SegCLIPModel(image_size=model_size, quick_gelu=True, reconstruction=False).eval()
    state = reference.state_dict()
    load_clip_weights(ours, state)  # resamples the positional embedding when the sizes differ
    reference.to(args.device)
    ours.to(args.device)
    images = torch.randn(args.batch, 3, size, size, device=args.device)
    autocast = (
        torch.autocast(args.device, dtype=torch.bfloat16) if args.precision == "bf16" else nullcontext()
    )
    with torch.inference_mode(), autocast:
        segclip, clip = (lambda: ours.encode_image(images)), (lambda: reference.encode_image(images))
        return paired(segclip, clip, args.device, args.repeats)


def tiny_training_step(args: argparse.Namespace) -> float:
    """Seconds per training step of the tiny recipe (batch size and crop of its data module)."""
    config = yaml.safe_load(TINY_YAML.read_text())
    init_args = config["model"]["init_args"]
    data = config["data"]["init_args"]
    torch.manual_seed(0)
    module = SegCLIP(**init_args).to(args.device).train()
    module.log = lambda *a, **k: None  # no trainer attached: logging is not what is timed
    hp = module.hparams
    optimizer = build_optimizer(module.model, hp.lr_clip, hp.lr_new, hp.weight_decay, hp.betas, hp.eps)
    size, batch_size = data["image_size"], data["batch_size"]
    captions = [f"a photo of a red ball next to {i} stars" for i in range(batch_size)]
    batch = {
        "image": torch.randn(batch_size, 3, size, size, device=args.device),
        "text": ClipTokenizer(data["context_length"])(captions).to(args.device),
        "superpixels": torch.randint(0, 12, (batch_size, size, size), device=args.device),
    }

    def step():
        loss = module.training_step(batch, 0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return timed(step, args.device, args.repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 448])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--interpolate", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, batch {args.batch}, "
        f"{args.precision}, torch {torch.__version__}"
    )
    for size in args.sizes:
        seg, ref = image_forward(args, size)
        print(
            f"{size} px  SegCLIP image forward {seg * 1e3:8.2f} ms   "
            f"open_clip ViT-B-16 {ref * 1e3:8.2f} ms   ratio SegCLIP/CLIP {seg / ref:5.2f}x"
        )
    if not args.skip_train:
        step = tiny_training_step(args)
        print(f"tiny recipe training step (batch 32, 64 px, all losses): {step * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
