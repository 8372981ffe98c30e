"""``SSeg``: the LightningModule wiring S-Seg's MaskFormer, text encoder, pseudo-masks and losses.

Training (S-Seg §3): L = λ_mask·L_mask + λ_con·L_con, where L_mask matches the N predicted masks to
the K pseudo-masks (``MaskCriterion``) and L_con is CLIP's symmetric InfoNCE between the image
embedding (the mean of the N query embeddings, then the projection MLP) and the caption's feature,
negatives from every process.
Segmentation: each mask's feature (its query, projected on its own) is classified by cosine
similarity with the class embeddings (softmax at the learned temperature); a class's score at a
pixel is Σ_q p_q(c)·σ(m_q).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ovseg.errors import OvsegUserError
from ovseg.evaluation.regions import RegionScores
from ovseg.methods.base import EVALUATION_SETTINGS, IMAGENET_MEAN, IMAGENET_STD, OpenVocabSegmenter
from ovseg.methods.sseg.cache import CachedPseudoMasks
from ovseg.methods.sseg.criterion import MaskCriterion
from ovseg.methods.sseg.kmeans import resolve_backend
from ovseg.methods.sseg.maskformer import MaskFormer
from ovseg.methods.sseg.matcher import HungarianMatcher
from ovseg.methods.sseg.pseudo_masks import PSEUDO_MASK_SOURCES
from ovseg.methods.sseg.sources import PseudoMaskSource, build_pseudo_mask_source
from ovseg.methods.sseg.weights import load_sseg_weights
from ovseg.nn.contrastive import LogitScale, contrastive_loss
from ovseg.nn.dino import DINO_FEATURES, DINO_MODEL
from ovseg.nn.text import build_text_encoder
from ovseg.types import PairBatch

SCORE_NORMS = ("none", "masks")


class SSeg(OpenVocabSegmenter):
    """S-Seg (Lai, CVPR 2025): a MaskFormer trained from pseudo-masks and captions.

    Defaults are the paper's (Swin-S, 6 decoder layers, N = 64, 256-d space, a 12-layer text
    Transformer from scratch, DINO ViT-S/8 + K-Means K = 8, λ_dice = 1, λ_focal = 20, AdamW 5e-4).

    Args:
        backbone, backbone_pretrained, backbone_weights: timm backbone, from scratch by default.
        conv_dim, mask_dim, hidden_dim, num_queries, decoder_layers, decoder_heads, decoder_ffn_dim,
            masked_attention: MaskFormer sizes (see ``MaskFormer``).
        embed_dim: width of the shared image-text space.
        projection_dim: hidden width of the 2-layer projections (image and text side).
        text_model: "transformer" (from scratch) or a Hugging Face model name / folder.
        text_width, text_layers, text_heads, context_length, vocab_size: the text Transformer.
        text_pooling: pooling of a Hugging Face encoder (cls, mean, eos).
        init_temperature: initial contrastive temperature (learned).
        pseudo_masks: online source, "dino" or "pixel" (colour + position K-Means).
        pseudo_mask_k: K, clusters per image.
        pseudo_mask_cache: read pseudo-masks from this ``ovseg prepare pseudo-masks`` folder instead.
        dino_model, dino_weights, dino_feature, dino_size: DINO model, local weights file, feature
            (tokens or keys) and the side crops are resized to for it.
        kmeans_backend, kmeans_iters: K-Means backend (auto, torch, faiss) and rounds.
        pixel_grid, pixel_position_weight: the "pixel" source's grid side and position weight.
        mask_weight, contrastive_weight, dice_weight, focal_weight, focal_alpha, focal_gamma,
            aux_loss: loss weights and settings.
        lr, weight_decay, warmup_fraction: AdamW with linear warm-up then cosine decay to 0.
        score_norm: "none" (Σ_q p_q(c)·σ(m_q)) or "masks" (also divided by Σ_q σ(m_q) per pixel).
        weights: a weights file (an SSeg state dict or Lightning checkpoint) to start from.
        **kwargs: evaluation settings of ``OpenVocabSegmenter``.
    """

    image_mean = IMAGENET_MEAN
    image_std = IMAGENET_STD

    def __init__(
        self,
        backbone: str = "swin_small_patch4_window7_224",
        backbone_pretrained: bool = False,
        backbone_weights: str | None = None,
        conv_dim: int = 256,
        mask_dim: int = 256,
        hidden_dim: int = 256,
        num_queries: int = 64,
        decoder_layers: int = 6,
        decoder_heads: int = 8,
        decoder_ffn_dim: int = 2048,
        masked_attention: bool = True,
        embed_dim: int = 256,
        projection_dim: int = 4096,
        text_model: str = "transformer",
        text_width: int = 256,
        text_layers: int = 12,
        text_heads: int = 4,
        context_length: int = 77,
        vocab_size: int = 49408,
        text_pooling: str = "cls",
        init_temperature: float = 0.07,
        pseudo_masks: str = "dino",
        pseudo_mask_k: int = 8,
        pseudo_mask_cache: str | None = None,
        dino_model: str = DINO_MODEL,
        dino_weights: str | None = None,
        dino_feature: str = "tokens",
        dino_size: int = 224,
        kmeans_backend: str = "auto",
        kmeans_iters: int = 20,
        pixel_grid: int = 16,
        pixel_position_weight: float = 0.5,
        mask_weight: float = 1.0,
        contrastive_weight: float = 1.0,
        dice_weight: float = 1.0,
        focal_weight: float = 20.0,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        aux_loss: bool = True,
        lr: float = 5e-4,
        weight_decay: float = 0.05,
        warmup_fraction: float = 0.05,
        score_norm: str = "none",
        weights: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        # Evaluation settings are not model hyperparameters: kept out of checkpoints, so that
        # `ovseg test --ckpt_path FILE --protocol ... --model.bg_threshold ...` is not overridden by them.
        self.save_hyperparameters(ignore=["weights", "score_norm", *EVALUATION_SETTINGS])
        _check_choice("pseudo_masks", pseudo_masks, PSEUDO_MASK_SOURCES)
        _check_choice("dino_feature", dino_feature, DINO_FEATURES)
        _check_choice("score_norm", score_norm, SCORE_NORMS)
        resolve_backend(kmeans_backend, "cpu")  # fail now on an unknown backend
        self.model = MaskFormer(**_arguments_of(MaskFormer, self.hparams))
        self.text_encoder = build_text_encoder(
            text_model,
            embed_dim,
            text_width,
            text_layers,
            text_heads,
            context_length,
            vocab_size,
            projection_dim,
            text_pooling,
        )
        self.logit_scale = LogitScale(init_temperature)
        self.criterion = MaskCriterion(
            HungarianMatcher(focal_weight, dice_weight, focal_alpha, focal_gamma),
            dice_weight,
            focal_weight,
            focal_alpha,
            focal_gamma,
            aux_loss,
        )
        self.score_norm = score_norm
        self.__dict__["_pseudo_masks"] = None  # built on first use, kept out of the state dict
        if weights is not None:
            load_sseg_weights(self, weights)

    # ----- pseudo-masks ------------------------------------------------------------------------
    def pseudo_mask_source(self) -> PseudoMaskSource:
        """The pseudo-mask generator of this run (built once; DINO's weights are never checkpointed)."""
        source = self.__dict__["_pseudo_masks"]
        if source is None:
            source = build_pseudo_mask_source(self.hparams, self.image_mean, self.image_std)
            self.__dict__["_pseudo_masks"] = source
        if isinstance(source, torch.nn.Module):
            source.to(self.device)
        return source

    def make_pseudo_masks(self, batch: PairBatch, size: tuple[int, int]) -> list[torch.Tensor]:
        """Per image the non-empty pseudo-masks (K_b, *size) of its training crop."""
        source = self.pseudo_mask_source()
        if isinstance(source, CachedPseudoMasks):
            return source(batch["key"], batch["crop_box"], size)
        return source(batch["image"], size)

    def on_fit_start(self) -> None:
        self.pseudo_mask_source()  # missing DINO weights or cache fail before the first step

    # ----- training ----------------------------------------------------------------------------
    def encode_tokens(self, batch: PairBatch) -> torch.Tensor:
        """(B, D) caption features: the batch's CLIP tokens, or the encoder's own tokens."""
        if getattr(self.text_encoder, "accepts_clip_tokens", False):
            return self.text_encoder(batch["text"])
        return self.text_encoder(self.text_encoder.tokenize(batch["caption"]))

    def training_step(self, batch: PairBatch, batch_idx: int) -> torch.Tensor:
        batch_size = batch["image"].shape[0]
        if batch_size < 2:
            raise OvsegUserError(
                "S-Seg trains on at least 2 images per process and step: its image and text projections "
                "normalise (BatchNorm) over the batch. Raise --data.batch_size (and keep "
                "--data.drop_last true, so that no last batch of one image is left)."
            )
        output = self.model(batch["image"])
        targets = self.make_pseudo_masks(batch, tuple(output.pred_masks.shape[-2:]))
        mask = self.criterion(output.pred_masks, output.aux_masks, targets)
        scale = self.logit_scale()
        image = self.model.image_embedding(output.queries)  # (B, D)
        contrastive = contrastive_loss(image, self.encode_tokens(batch), scale)
        h = self.hparams
        total = h.mask_weight * mask["mask"] + h.contrastive_weight * contrastive  # S-Seg: L = L_mask + L_con
        logs = {f"train/loss_{name}": value for name, value in mask.items() if name != "num_masks"}
        logs["train/loss_contrastive"] = contrastive
        logs["train/logit_scale"] = scale
        logs["train/pseudo_masks_per_image"] = sum(t.shape[0] for t in targets) / batch_size
        self.log_dict(logs, batch_size=batch_size)
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        return total

    def configure_optimizers(self):
        h = self.hparams
        decay = [p for p in self.parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for p in self.parameters() if p.requires_grad and p.ndim < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": h.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=h.lr,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(h.warmup_fraction * total)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ----- evaluation --------------------------------------------------------------------------
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        tokens = self.text_encoder.tokenize(prompts)
        if isinstance(tokens, torch.Tensor):
            tokens = tokens.to(self.device)
        return self.text_encoder(tokens)  # (T, D)

    def mask_class_logits(self, mask_features: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        """(B, N, D) mask features × (C, D) class embeddings → (B, N, C) scaled cosines."""
        with torch.autocast(mask_features.device.type, enabled=False):  # fp32 logits under autocast too
            features = F.normalize(mask_features.float(), dim=-1)  # (B, N, D)
            return self.logit_scale().float() * features @ class_embeddings.float().T  # (B, N, C)

    def regions(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> RegionScores:
        """The masks as regions: class logits per query, σ(m_q) as each pixel's membership, so that a
        pixel's score is Σ_q p_q(c)·σ(m_q) (divided by Σ_q σ(m_q) with ``score_norm="masks"``)."""
        output = self.model(images)
        return RegionScores(
            logits=self.mask_class_logits(self.model.mask_features(output.queries), class_embeddings),
            membership=output.pred_masks.float().sigmoid(),  # (B, N, h, w)
            image_probs=self.image_class_probs(output.queries, class_embeddings),  # (B, C)
            normalize=self.score_norm == "masks",
        )

    def image_class_probs(self, queries: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        """(B, N, E) queries → (B, C) the image embedding's class probabilities."""
        image = self.model.image_embedding(queries)[:, None]  # (B, 1, D)
        return self.mask_class_logits(image, class_embeddings)[:, 0].softmax(dim=-1)  # (B, C)

    def class_logit_scale(self) -> float:
        return float(self.logit_scale())

    def classify_images(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        return self.image_class_probs(self.model(images).queries, class_embeddings)  # (B, C)


def _arguments_of(cls: type, options: Mapping) -> dict:
    """The entries of ``options`` that ``cls``'s constructor takes, by name."""
    return {name: options[name] for name in inspect.signature(cls).parameters if name in options}


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OvsegUserError(f"unknown {name} '{value}'. Valid values: {', '.join(choices)}.")
