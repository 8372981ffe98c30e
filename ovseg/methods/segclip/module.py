"""SegCLIP (Luo et al., ICML 2023) as a LightningModule: model + three losses + the release's recipe.

Training: L = w_con·L_con + w_rec·L_rec + w_sup·L_sup (paper eq. 7, all weights 1.0); a weight of 0
switches its loss off. Evaluation: ``segment`` is S = M·Ŝ (paper §2.5, inference), see ``inference``.
"""

from __future__ import annotations

from typing import Literal

import torch

from ovseg.data.transforms import ClipTokenizer
from ovseg.errors import OvsegUserError
from ovseg.evaluation.regions import RegionScores
from ovseg.methods.base import CLIP_MEAN, CLIP_STD, EVALUATION_SETTINGS, OpenVocabSegmenter
from ovseg.methods.segclip.checkpoint import load_clip_weights, load_segclip_weights
from ovseg.methods.segclip.inference import classify, group_regions
from ovseg.methods.segclip.losses import patch_labels, patchify, reconstruction_loss, superpixel_kl_loss
from ovseg.methods.segclip.model import SegCLIPModel
from ovseg.methods.segclip.optim import build_optimizer, freeze_clip_embeddings, warmup_cosine
from ovseg.nn.clip import load_clip_state_dict, pretrained_quick_gelu, read_state_dict
from ovseg.nn.contrastive import contrastive_loss
from ovseg.types import PairBatch


class SegCLIP(OpenVocabSegmenter):
    """SegCLIP: CLIP ViT + learnable centers, trained on image-text pairs.

    Args:
        image_size, patch_size, vision_width, vision_layers, vision_heads: the CLIP ViT (B/16, 224).
        first_stage_layer: CLIP blocks before the group module (10 of 12).
        num_centers: learnable centers L (8).
        cross_layers: cross-attention blocks of the group module (2).
        gumbel_tau: Gumbel-softmax temperature (0.9).
        embed_dim: shared feature width (512).
        text_width, text_layers, text_heads, context_length, vocab_size: CLIP's text tower.
        quick_gelu: QuickGELU as OpenAI CLIP and the release (False for GELU open_clip models).
        class_token: keep CLIP's class token through the first stage (plain CLIP); the release
            drops it before the blocks (False).
        reconstruction_layers: extra blocks after eq. 4's layer (None: as many as the third stage, 2).
        decoder_width, decoder_layers, decoder_heads: MAE decoder (None width: vision_width // 2).
        init_temperature: initial contrastive temperature (learned; CLIP's 0.07; the logit scale is ≤ 100).
        clip_model: open_clip model name that ``clip_pretrained`` is a tag of.
        clip_pretrained: CLIP weights to start from: an open_clip tag ("openai") or a local file
            (OpenAI .pt or open_clip state_dict); None: random initialisation.
        clip_cache_dir: download folder for ``clip_pretrained`` tags.
        weights: a SegCLIP weights file to load instead of CLIP: the released ``segclip.bin`` or
            ovseg's own (``ovseg export`` output, a state dict); read by ``ovseg.safe_load``.
        contrastive_weight, reconstruction_weight, superpixel_weight: loss weights (0: off).
        mask_ratio: share of patches hidden in the reconstruction pass (0.75).
        lr_clip: learning rate of the first stage, text tower and logit scale (4e-6).
        lr_new: learning rate of the group module, last blocks, projection, reconstruction (4e-3).
        weight_decay, betas, eps: AdamW.
        warmup_fraction: linear warmup share of the steps, then cosine to 0.
        freeze_embeddings: freeze patch/token/positional embeddings and ln_pre.
        grad_clip_norm: gradient-norm clip when the trainer sets none (None: no clipping).
        membership: segmentation's patch → group membership: "upsampled" (the release: argmax of the
            bilinearly upsampled soft assignment), "patch" (hard M per patch) or "soft".
        **kwargs: evaluation arguments of ``OpenVocabSegmenter`` (protocol, dataset, ...).
    """

    image_mean = CLIP_MEAN
    image_std = CLIP_STD

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        vision_width: int = 768,
        vision_layers: int = 12,
        vision_heads: int = 12,
        first_stage_layer: int = 10,
        num_centers: int = 8,
        cross_layers: int = 2,
        gumbel_tau: float = 0.9,
        embed_dim: int = 512,
        text_width: int = 512,
        text_layers: int = 12,
        text_heads: int = 8,
        context_length: int = 77,
        vocab_size: int = 49408,
        quick_gelu: bool = True,
        class_token: bool = False,
        reconstruction_layers: int | None = None,
        decoder_width: int | None = None,
        decoder_layers: int = 3,
        decoder_heads: int = 8,
        init_temperature: float = 0.07,
        clip_model: str = "ViT-B-16",
        clip_pretrained: str | None = "openai",
        clip_cache_dir: str | None = None,
        weights: str | None = None,
        contrastive_weight: float = 1.0,
        reconstruction_weight: float = 1.0,
        superpixel_weight: float = 1.0,
        mask_ratio: float = 0.75,
        lr_clip: float = 4e-6,
        lr_new: float = 4e-3,
        weight_decay: float = 0.05,
        betas: tuple[float, float] = (0.9, 0.98),
        eps: float = 1e-6,
        warmup_fraction: float = 0.15,
        freeze_embeddings: bool = True,
        grad_clip_norm: float | None = 1.0,
        membership: Literal["upsampled", "patch", "soft"] = "upsampled",
        **kwargs,
    ) -> None:
        # Checkpoints of earlier versions carry "segclip_rules": the protocol's rules now decide.
        kwargs.pop("segclip_rules", None)
        super().__init__(**kwargs)
        # Evaluation settings belong to the run, not the checkpoint (LightningCLI would restore them
        # over the command line's); the trained weights are in the checkpoint, so rebuilding the
        # model from its hyperparameters loads no CLIP or released file.
        self.save_hyperparameters(ignore=list(EVALUATION_SETTINGS))
        self.hparams.update(clip_pretrained=None, weights=None)
        if not 0.0 <= mask_ratio < 1.0:
            raise OvsegUserError(f"mask_ratio must be in [0, 1), got {mask_ratio}.")
        self.model = SegCLIPModel(
            image_size, patch_size, vision_width, vision_layers, vision_heads, first_stage_layer,
            num_centers, cross_layers, gumbel_tau, embed_dim, text_width, text_layers, text_heads,
            context_length, vocab_size, quick_gelu, class_token, reconstruction=reconstruction_weight > 0,
            reconstruction_layers=reconstruction_layers, decoder_width=decoder_width,
            decoder_layers=decoder_layers, decoder_heads=decoder_heads, init_temperature=init_temperature,
        )  # fmt: skip
        if weights is not None:
            load_segclip_weights(self.model, read_state_dict(weights), source=weights)
        elif clip_pretrained is not None:
            self._check_activation(clip_model, clip_pretrained, quick_gelu)
            state = load_clip_state_dict(clip_model, clip_pretrained, clip_cache_dir)
            load_clip_weights(self.model, state, source=f"CLIP weights '{clip_pretrained}'")
        if freeze_embeddings:
            freeze_clip_embeddings(self.model)
        self.tokenizer = ClipTokenizer(context_length)
        self.patch_size = patch_size
        self.loss_weights = {
            "contrastive": contrastive_weight,
            "reconstruction": reconstruction_weight,
            "superpixel": superpixel_weight,
        }
        self.mask_ratio = mask_ratio
        self.membership = membership
        self.grad_clip_norm = grad_clip_norm

    @staticmethod
    def _check_activation(clip_model: str, clip_pretrained: str, quick_gelu: bool) -> None:
        trained_quick = pretrained_quick_gelu(clip_model, clip_pretrained)
        if trained_quick is not None and trained_quick != quick_gelu:
            raise OvsegUserError(
                f"CLIP {clip_model}/{clip_pretrained} was trained with "
                f"{'QuickGELU' if trained_quick else 'GELU'}: "
                f"set --model.quick_gelu {str(trained_quick).lower()}."
            )

    # ----- training -----------------------------------------------------------------------------
    def training_step(self, batch: PairBatch, batch_idx: int) -> torch.Tensor:
        images = batch["image"]  # (B, 3, S, S)
        losses: dict[str, torch.Tensor] = {}
        image = self.model.encode_image(images)
        if self.loss_weights["contrastive"]:
            text = self.model.encode_text(batch["text"])  # (B, E)
            losses["contrastive"] = contrastive_loss(image.feature, text, self.model.logit_scale())
        if self.loss_weights["superpixel"]:
            if "superpixels" not in batch:
                raise OvsegUserError(
                    "superpixel_weight > 0 needs superpixels in the batches: set "
                    "data.init_args.superpixels: true, or switch the loss off with "
                    "--model.superpixel_weight 0."
                )
            labels = patch_labels(batch["superpixels"], self.patch_size)  # (B, N)
            losses["superpixel"] = superpixel_kl_loss(image.hard, labels)
        if self.loss_weights["reconstruction"]:
            masked = self.model.reconstruct(images, self.mask_ratio)
            target = patchify(images, self.patch_size)  # (B, N, p*p*3)
            losses["reconstruction"] = reconstruction_loss(masked.pixels, target, masked.masked)
        if not losses:
            raise OvsegUserError("every SegCLIP loss weight is 0; switch at least one loss on.")
        total = sum(self.loss_weights[name] * value for name, value in losses.items())
        batch_size = images.shape[0]
        for name, value in losses.items():
            self.log(f"train/loss_{name}", value.detach(), batch_size=batch_size)
        self.log("train/loss", total.detach(), prog_bar=True, batch_size=batch_size)
        self.log("train/logit_scale", self.model.logit_scale().detach(), batch_size=batch_size)
        return total

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = build_optimizer(self.model, hp.lr_clip, hp.lr_new, hp.weight_decay, hp.betas, hp.eps)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, hp.warmup_fraction))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ) -> None:
        if gradient_clip_val is None and self.grad_clip_norm:
            gradient_clip_val, gradient_clip_algorithm = self.grad_clip_norm, "norm"
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # ----- evaluation ---------------------------------------------------------------------------
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(prompts).to(self.device))  # (T, E)

    def regions(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> RegionScores:
        return group_regions(self.model, images, class_embeddings, self.membership)

    def class_logit_scale(self) -> float:
        return float(self.model.logit_scale())

    def classify_images(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        return classify(self.model, images, class_embeddings)  # (B, C)
