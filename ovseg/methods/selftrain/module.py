"""``SelfTrain``: S-Seg+'s second stage, a fully supervised segmenter trained on pseudo-labels.

S-Seg (§4, "self-training") labels the target dataset's unlabeled training images with the trained
open-vocabulary model (``ovseg pseudo-label``), then trains "a standard fully supervised
segmentation model (UperNet with an MAE pre-trained ViT)" on them. Loss: per-pixel cross-entropy,
ignore index 255, plus mmseg's auxiliary FCN head at weight 0.4.

Its classes are the target benchmark's, fixed at training time and stored in the checkpoint
(``classes``, ``background``): evaluation needs no text encoder, and evaluating on a benchmark
with other classes is an error. On a benchmark with background the model has a background output
(channel 0) and the shared loop takes the argmax over [background, classes]
(``predicts_background``) instead of thresholding the class scores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ovseg.data.catalog import DatasetSpec
from ovseg.errors import OvsegUserError
from ovseg.methods.base import EVALUATION_SETTINGS, IMAGENET_MEAN, IMAGENET_STD, OpenVocabSegmenter
from ovseg.methods.selftrain.backbone import MAE_VIT_B
from ovseg.methods.selftrain.model import UperNetViT
from ovseg.methods.selftrain.optim import build_optimizer, warmup_poly

IGNORE_INDEX = 255


class ClassMismatchError(OvsegUserError):
    """A SelfTrain model evaluated on a benchmark whose classes it was not trained for."""


class SelfTrain(OpenVocabSegmenter):
    """S-Seg+'s segmenter: a timm ViT (MAE ViT-B/16 by default) + UperNet, trained on pseudo-labels.

    Defaults are MAE's UperNet fine-tuning recipe (the S-Seg paper gives none of its own): blocks
    4/6/8/12, head width 768, auxiliary head 256 at weight 0.4, AdamW lr 1e-4, weight decay 0.05,
    layer decay 0.65, 1500 warm-up steps then linear (poly 1.0) decay.

    Args:
        backbone: timm ViT name (with a pretrained tag: vit_base_patch16_224.mae).
        backbone_pretrained: load timm's pretrained weights by name (needs the hub or its cache).
        backbone_weights: a local weights file for the ViT instead (read safely).
        out_indices: the four 0-based blocks whose outputs feed the neck.
        backbone_kwargs: timm constructor overrides (img_size, patch_size, depth, embed_dim,
            num_heads, drop_path_rate, ...).
        channels, aux_channels, dropout: UperHead width, auxiliary head width (0: none), dropout.
        aux_weight: weight of the auxiliary head's cross-entropy.
        lr, weight_decay, layer_decay, warmup_steps, poly_power: AdamW with layer-wise decay,
            linear warm-up, then (1 − progress)^poly_power.
        classes: the foreground class names it predicts (default: the ``dataset``'s); stored.
        background: whether it predicts background as class 0 (default: the ``dataset``'s); stored.
        weights: a trained SelfTrain's weights to start from (a Lightning .ckpt, an ``ovseg export``
            file or a state dict; ``ovseg test --ckpt model.safetensors`` passes it).
        **kwargs: evaluation settings of ``OpenVocabSegmenter`` (a protocol without a per-image
            top-k class filter: groupvit or tcl).
    """

    image_mean = IMAGENET_MEAN
    image_std = IMAGENET_STD

    def __init__(
        self,
        backbone: str = MAE_VIT_B,
        backbone_pretrained: bool = True,
        backbone_weights: str | None = None,
        out_indices: tuple[int, ...] = (3, 5, 7, 11),
        backbone_kwargs: dict | None = None,
        channels: int = 768,
        aux_channels: int = 256,
        dropout: float = 0.1,
        aux_weight: float = 0.4,
        lr: float = 1e-4,
        weight_decay: float = 0.05,
        layer_decay: float = 0.65,
        warmup_steps: int = 1500,
        poly_power: float = 1.0,
        classes: list[str] | None = None,
        background: bool | None = None,
        weights: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["weights", *EVALUATION_SETTINGS])
        classes, background = _target_classes(classes, background, self.dataset)
        # The checkpoint holds the trained backbone: rebuilding from it must not fetch MAE again.
        self.hparams.update(
            classes=list(classes), background=background, backbone_pretrained=False, backbone_weights=None
        )
        self.num_outputs = len(classes) + int(background)
        self.model = UperNetViT(
            self.num_outputs,
            backbone,
            backbone_pretrained,
            backbone_weights,
            tuple(out_indices),
            backbone_kwargs,
            channels,
            aux_channels,
            dropout,
        )
        if weights is not None:
            load_selftrain_weights(self, weights)
        if self.dataset is not None:
            self.check_classes(self.dataset)

    # ----- classes ------------------------------------------------------------------------------
    @property
    def trained_classes(self) -> tuple[str, ...]:
        return tuple(self.hparams.classes)

    def predicts_background(self) -> bool:
        return bool(self.hparams.background)

    def check_classes(self, spec: DatasetSpec) -> None:
        """Fail unless ``spec`` has exactly the classes (and background) this model was trained for."""
        if tuple(spec.class_names) != self.trained_classes or spec.has_background != self.hparams.background:
            trained = (
                f"{len(self.trained_classes)} classes{' + background' if self.hparams.background else ''}"
            )
            target = f"{len(spec.class_names)} classes{' + background' if spec.has_background else ''}"
            raise ClassMismatchError(
                f"this SelfTrain model predicts the {trained} it was trained for "
                f"({', '.join(self.trained_classes[:5])}{', ...' if len(self.trained_classes) > 5 else ''}), "
                f"but dataset '{spec.name}' has {target} ({', '.join(spec.class_names[:5])}"
                f"{', ...' if len(spec.class_names) > 5 else ''}). Evaluate it on the benchmark whose "
                "pseudo-labels it was trained on, or train one for this benchmark."
            )

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.dataset is not None:
            self.check_classes(self.dataset)

    # ----- training ----------------------------------------------------------------------------
    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy (ignore 255) of normalised images (B, 3, H, W) against labels (B, H, W)."""
        output = self.model(images)
        size = labels.shape[-2:]
        main = F.cross_entropy(
            F.interpolate(output.logits, size=size, mode="bilinear", align_corners=False),  # (B, K, H, W)
            labels,
            ignore_index=IGNORE_INDEX,
        )
        losses = {"main": main, "total": main}
        if output.aux_logits is not None and self.hparams.aux_weight > 0:
            aux = F.cross_entropy(
                F.interpolate(output.aux_logits, size=size, mode="bilinear", align_corners=False),
                labels,
                ignore_index=IGNORE_INDEX,
            )
            losses["aux"] = aux
            losses["total"] = main + self.hparams.aux_weight * aux
        return losses

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        images = self.normalize(batch["image"])  # (B, 3, S, S)
        labels = batch["label"].long()  # (B, S, S)
        losses = self.loss(images, labels)
        batch_size = images.shape[0]
        self.log_dict(
            {f"train/loss_{k}": v for k, v in losses.items() if k != "total"}, batch_size=batch_size
        )
        self.log("train/loss", losses["total"], prog_bar=True, batch_size=batch_size)
        return losses["total"]

    def configure_optimizers(self):
        h = self.hparams
        vit = self.model.backbone.vit
        optimizer = build_optimizer(
            self, h.lr, h.weight_decay, h.layer_decay, len(vit.blocks), "model.backbone.vit."
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(int(h.warmup_steps), max(total - 1, 0))

        def factor(step: int) -> float:
            return warmup_poly(step, warmup, total, h.poly_power)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ----- evaluation: no text, the trained classes ---------------------------------------------
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        raise OvsegUserError(
            "SelfTrain is a closed-vocabulary segmenter: it has no text encoder and predicts only the "
            f"classes it was trained for ({len(self.trained_classes)} of them)."
        )

    @torch.no_grad()
    def build_class_embeddings(self) -> torch.Tensor:
        """The evaluated classes as indices (C,) into the model's outputs, after checking them."""
        self.check_classes(self._require_dataset())
        return torch.arange(len(self.trained_classes), device=self.device)  # (C,)

    def segment(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities (B, K, H/4, W/4): K = 1 + C with background first, else C. No class
        filter and no background rule: a closed-vocabulary model has no text to rank classes by, and
        its background is a class of its own (the argmax decides, as for supervised segmenters)."""
        if class_embeddings.shape[0] != len(self.trained_classes):
            raise ValueError(
                f"SelfTrain scores its {len(self.trained_classes)} trained classes, "
                f"got {class_embeddings.shape[0]} class embeddings"
            )
        return self.model(images).logits.float().softmax(dim=1)  # (B, K, h, w)

    def window_scores(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        return self.segment(images, class_embeddings)  # (B, K, h, w)

    def has_background_channel(self) -> bool:
        return self.predicts_background()


def load_selftrain_weights(module: SelfTrain, path: str) -> None:
    """Load a SelfTrain state dict from ``path`` (read safely); every ``model.*`` entry must fit."""
    from ovseg.safe_load import read_state_dict

    state = {k: v for k, v in read_state_dict(path).items() if k.startswith("model.")}
    own = {k: v for k, v in module.state_dict().items() if k.startswith("model.")}
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    resized = [key for key in state if key in own and state[key].shape != own[key].shape]
    if not state or missing or unexpected or resized:
        raise OvsegUserError(
            f"'{path}' does not fit this SelfTrain: {len(missing)} missing keys ({', '.join(missing[:3])}), "
            f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])}), {len(resized)} of another shape "
            f"({', '.join(resized[:3])}). Build it with the sizes and classes it was trained with."
        )
    module.load_state_dict(state, strict=False)


def _target_classes(
    classes: list[str] | None, background: bool | None, dataset: DatasetSpec | None
) -> tuple[tuple[str, ...], bool]:
    """The classes (and background) the model predicts: given, else those of ``dataset``."""
    if classes is None and dataset is None:
        raise OvsegUserError(
            "SelfTrain needs the classes it predicts: train it on an ovseg pseudo-label folder "
            "(--data.pseudo_labels DIR gives them), or pass --model.classes and --model.background."
        )
    if classes is None:
        classes = dataset.class_names
    if background is None:
        background = dataset.has_background if dataset is not None else True
    if not classes or len(set(classes)) != len(classes):
        raise OvsegUserError(f"SelfTrain classes must be distinct names, got {list(classes)}.")
    return tuple(str(name) for name in classes), bool(background)
