"""What slide-window inference costs against one whole-image forward, for the same segmenter.

The protocols score an image resized to short side 448 in overlapping 448 px windows with stride
224 (``ovseg.evaluation.inference``). On a 448 × 896 image that is 3 windows, covering 1.5 × the
pixels; this program measures the price, as medians of interleaved runs after warm-up:
  * the reference: one forward on the whole image (``mode="whole"``);
  * slide: 448 crop / 224 stride windows, scores averaged where they overlap (``mode="slide"``);
  * one 448 × 448 window alone, to split slide's cost into forwards and stitching.
The segmenter is a method at its paper size with random weights (nothing is downloaded).

Run: .venv/bin/python benchmarks/slide_speed.py [--method segclip|sseg] [--height 448] [--width 896]
     [--crop 448] [--stride 224] [--classes 21] [--repeats 3] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F
from timing import median_seconds

from ovseg.evaluation.inference import infer_scores, window_starts


def paper_size_segmenter(method: str) -> torch.nn.Module:
    """The method at the paper's architecture, randomly initialised."""
    if method == "segclip":
        from ovseg.methods.segclip import SegCLIP

        return SegCLIP(clip_pretrained=None)
    from ovseg.methods.sseg import SSeg

    return SSeg()


def interleaved_medians(fns: dict, repeats: int, sync) -> dict[str, float]:
    """Median seconds of each function, timed in turn so that load changes hit all alike."""
    for fn in fns.values():  # warm-up
        fn()
        sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():

            def run(fn=fn):
                fn()
                sync()

            times[name].append(median_seconds(run, 1, warmup=0))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=["segclip", "sseg"], default="segclip")
    parser.add_argument("--height", type=int, default=448)
    parser.add_argument("--width", type=int, default=896)
    parser.add_argument("--crop", type=int, default=448)
    parser.add_argument("--stride", type=int, default=224)
    parser.add_argument("--classes", type=int, default=21, help="text queries (VOC: 20, + background)")
    parser.add_argument("--repeats", type=int, default=3, help="a paper-size forward takes seconds on a CPU")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    torch.manual_seed(0)
    segmenter = paper_size_segmenter(args.method).to(device).eval()
    dim = segmenter.encode_text(["a photo of a cat."]).shape[-1]
    embeddings = F.normalize(torch.randn(args.classes, dim), dim=-1).to(device)  # (C, D)
    image = torch.randn(1, 3, args.height, args.width, device=device)  # (1, 3, H, W), normalised
    window = image[..., : args.crop, : args.crop]  # (1, 3, crop, crop)
    size = (args.height, args.width)

    def segment(images: torch.Tensor) -> torch.Tensor:
        return segmenter.segment(images, embeddings)  # (B, C, h, w)

    def scored(mode: str):
        return lambda: infer_scores(
            segment, image, size, short_side=None, mode=mode, crop=args.crop, stride=args.stride
        )

    windows = len(window_starts(args.height, args.crop, args.stride)) * len(
        window_starts(args.width, args.crop, args.stride)
    )
    with torch.inference_mode():
        medians = interleaved_medians(
            {"whole": scored("whole"), "slide": scored("slide"), "window": lambda: segment(window)},
            args.repeats,
            sync,
        )
    whole, slide, one = medians["whole"], medians["slide"], medians["window"]
    print(
        f"{type(segmenter).__name__} (paper size, random weights), {args.height}×{args.width} image, "
        f"{args.classes} classes, device {args.device}, torch threads {torch.get_num_threads()}"
    )
    print(f"whole image, 1 forward (ref)      {whole * 1e3:9.1f} ms")
    print(f"slide {args.crop}/{args.stride}, {windows} windows        {slide * 1e3:9.1f} ms")
    print(f"one {args.crop}×{args.crop} window              {one * 1e3:9.1f} ms")
    print(f"ratio slide/whole                 {slide / whole:9.2f}x")
    print(f"ratio slide/({windows} × one window)     {slide / (windows * one):9.2f}x  (stitching overhead)")


if __name__ == "__main__":
    main()
