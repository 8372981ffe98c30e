"""Which pseudo-masks a run trains with: a cache, DINO + K-Means online, or colour + position."""

from __future__ import annotations

from collections.abc import Mapping

from ovseg.methods.sseg.cache import CachedPseudoMasks
from ovseg.methods.sseg.pseudo_masks import DinoPseudoMasks, PixelPseudoMasks

PseudoMaskSource = CachedPseudoMasks | DinoPseudoMasks | PixelPseudoMasks


def build_pseudo_mask_source(
    options: Mapping, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> PseudoMaskSource:
    """The source that ``SSeg``'s options (its hyperparameters) describe.

    Args:
        options: ``pseudo_mask_cache``, ``pseudo_masks``, ``pseudo_mask_k``, the ``dino_*``,
            ``kmeans_*`` and ``pixel_*`` settings.
        mean, std: the statistics training images are normalised with.
    """
    k = options["pseudo_mask_k"]
    if options["pseudo_mask_cache"]:
        return CachedPseudoMasks(options["pseudo_mask_cache"], k)
    if options["pseudo_masks"] == "dino":
        return DinoPseudoMasks(
            k=k,
            feature=options["dino_feature"],
            backend=options["kmeans_backend"],
            iters=options["kmeans_iters"],
            input_size=options["dino_size"],
            model_name=options["dino_model"],
            weights=options["dino_weights"],
        )
    return PixelPseudoMasks(
        k=k,
        grid=options["pixel_grid"],
        position_weight=options["pixel_position_weight"],
        mean=mean,
        std=std,
        backend=options["kmeans_backend"],
        iters=options["kmeans_iters"],
    )
