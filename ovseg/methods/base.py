"""The face every method shows to evaluation: text in, per-pixel class scores out.

``OpenVocabSegmenter`` owns the shared, method-blind validation/test loop: the protocol, the text
classifier, whole/slide inference, the background rule, the metric and the result files. A method
subclasses it and implements ``encode_text`` and ``segment`` (and ``training_step`` for fit).
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from pathlib import Path

import lightning as L
import torch
from torchmetrics import SumMetric

from ovseg.data.catalog import DatasetSpec
from ovseg.data.classnames import check_unique_class_names
from ovseg.data.templates import get_templates
from ovseg.evaluation.inference import infer_scores
from ovseg.evaluation.metrics import SemSegIoU
from ovseg.evaluation.protocols import DEFAULT_PROTOCOL, Protocol, get_protocol
from ovseg.evaluation.regions import RegionScores
from ovseg.evaluation.report import print_results, write_json_atomic
from ovseg.evaluation.window_rules import labels_from_window_scores, makes_background_channel, window_scores
from ovseg.types import EvalBatch

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class OpenVocabSegmenter(L.LightningModule):
    """Base LightningModule of every open-vocabulary segmenter.

    Subclasses implement:
        ``encode_text(prompts) -> (T, D)`` text features;
        ``regions(images, class_embeddings) -> RegionScores``: one window's regions (SegCLIP's groups,
        S-Seg's masks, or pixels), their class logits, which pixels they cover and the image-level
        class probabilities, for normalised images (B, 3, H, W) and L2-normalised class embeddings
        (C, D). Nothing else: the protocol's top-k class filter and background rule are applied
        here, the same for every method (``ovseg.evaluation.window_rules``);
        optionally ``classify_images(images, class_embeddings) -> (B, C)`` image-level scores.

    A closed-vocabulary method trained with a background class (S-Seg+'s ``SelfTrain``) overrides
    ``predicts_background()`` to return True and ``window_scores`` to return its own (B, 1 + C, h, w)
    probabilities, background first: a pixel's label is their argmax, with no class filter and no
    threshold, as supervised segmenters are evaluated.

    Args:
        protocol: evaluation preset (groupvit, groupvit-plain, segclip, tcl).
        dataset: the evaluation benchmark; set from the data module by the CLI.
        templates: override the protocol's prompt-template set (simple, tcl, imagenet).
        bg_threshold: override the protocol's background threshold.
        short_side: override the protocol's test resolution.
        mode: override the protocol's window mode (whole, slide).
        crop: override the protocol's window size.
        stride: override the protocol's window stride.
        top_k_classes: override the protocol's top-k class filter (0: off).
        top_k_combine: override how the filter combines ("product", "filtered").
        bg_rule: override the protocol's background rule ("window", "constant", "threshold").
        results_dir: folder for result JSON files (default: the run's log directory).
    """

    image_mean: tuple[float, float, float] = CLIP_MEAN
    image_std: tuple[float, float, float] = CLIP_STD

    def __init__(
        self,
        protocol: str = DEFAULT_PROTOCOL,
        dataset: DatasetSpec | None = None,
        templates: str | None = None,
        bg_threshold: float | None = None,
        short_side: int | None = None,
        mode: str | None = None,
        crop: int | None = None,
        stride: int | None = None,
        top_k_classes: int | None = None,
        top_k_combine: str | None = None,
        bg_rule: str | None = None,
        results_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.preset: Protocol = get_protocol(protocol)
        overrides = dict(
            templates=templates,
            short_side=short_side,
            mode=mode,
            crop=crop,
            stride=stride,
            top_k_classes=top_k_classes,
            top_k_combine=top_k_combine,
            bg_rule=bg_rule,
        )
        self.protocol_overrides = {key: value for key, value in overrides.items() if value is not None}
        get_templates(self.protocol.templates)  # fail now on an unknown template set or rule
        self.bg_threshold_override = bg_threshold
        self.results_dir = results_dir
        self.eval_metric: SemSegIoU | None = None
        self.eval_images = SumMetric()
        self._class_embeddings: torch.Tensor | None = None
        self._eval_started = 0.0
        if dataset is not None:
            self._check_vocabulary()
            self.eval_metric = SemSegIoU(dataset.num_classes)
        self.register_buffer("pixel_mean", torch.tensor(self.image_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(self.image_std).view(1, 3, 1, 1), persistent=False)

    # ----- what a method implements ---------------------------------------------------------
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement encode_text(prompts) -> (T, D).")

    def regions(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> RegionScores:
        raise NotImplementedError(
            f"{type(self).__name__} must implement regions(images, class_embeddings) -> RegionScores."
        )

    def classify_images(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no image-level classifier: classify_images(images, class_embeddings) "
            "-> (B, C)."
        )

    def predicts_background(self) -> bool:
        """True when ``window_scores`` scores background itself, as channel 0 of (B, 1 + C, h, w):
        labels are then the argmax over background and classes; the protocol's class filter and
        background rule are not used (default: False, the protocol's rules apply)."""
        return False

    # ----- one window under the protocol's rules -----------------------------------------------
    def segment(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) one window's class scores under the protocol's class filter, no background."""
        return window_scores(
            self.regions(images, class_embeddings), self.protocol, None, tuple(images.shape[-2:])
        )

    def window_scores(self, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        """One window's scores under the protocol: (B, 1 + C, h, w), background first, when the
        background rule makes a channel (``has_background_channel``), else (B, C, h, w)."""
        regions = self.regions(images, class_embeddings)
        return window_scores(regions, self.protocol, self.bg_threshold, tuple(images.shape[-2:]))

    def has_background_channel(self) -> bool:
        """Whether ``predict_scores`` puts a background channel first."""
        if self.predicts_background():
            return True
        return makes_background_channel(self.protocol, self.bg_threshold)

    def labels_from_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """(B, H, W) labels from ``predict_scores``' output: 0 background where the dataset has one."""
        if self.predicts_background():
            return scores.argmax(dim=1)  # channel 0 is background, label 0
        return labels_from_window_scores(scores, self.protocol, self.bg_threshold)

    def class_logit_scale(self) -> float | None:
        """The scale of the softmax over classes that ``segment`` applies to cosine similarities
        (for the confidence ceiling, ``ovseg.evaluation.confidence_ceiling``); None when a method
        classifies otherwise (default)."""
        return None

    # ----- the evaluation settings this run uses ----------------------------------------------
    @property
    def protocol(self) -> Protocol:
        """The preset, adapted to a generated benchmark's native size, then the run's overrides."""
        protocol = self.preset
        if self.dataset is not None and self.dataset.native_resolution:
            protocol = dataclasses.replace(protocol, short_side=None, mode="whole")
        return protocol.override(**self.protocol_overrides)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._require_dataset().class_names

    @property
    def prompt_names(self) -> tuple[str, ...]:
        """Class names as the protocol puts them into templates."""
        spec = self._require_dataset()
        return self.protocol.prompt_names(spec.family, spec.class_names)

    @property
    def bg_threshold(self) -> float | None:
        """Background threshold for this benchmark, or None when it has no background."""
        spec = self._require_dataset()
        if not spec.has_background:
            return None
        if self.bg_threshold_override is not None:
            return self.bg_threshold_override
        return self.protocol.threshold_for(spec.family)

    def _check_vocabulary(self) -> None:
        """Fail before any work on a class list (raw or as prompted) that names two classes alike."""
        spec = self._require_dataset()
        check_unique_class_names(spec.class_names, f"dataset '{spec.name}'")
        where = f"dataset '{spec.name}' under protocol '{self.protocol.name}'"
        check_unique_class_names(self.prompt_names, where, raw_names=spec.class_names)

    def _require_dataset(self) -> DatasetSpec:
        if self.dataset is None:
            raise RuntimeError(
                f"{type(self).__name__} has no evaluation dataset: pass --data (for example --data voc) "
                "or give the model dataset=get_dataset_spec('voc')."
            )
        return self.dataset

    # ----- the shared loop ----------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if self.dataset is None and isinstance(getattr(datamodule, "spec", None), DatasetSpec):
            self.dataset = datamodule.spec
        if self.dataset is not None:
            self._check_vocabulary()
        if self.dataset is not None and self.eval_metric is None:
            self.eval_metric = SemSegIoU(self.dataset.num_classes)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) → the method's normalised float images."""
        return (images.float() / 255.0 - self.pixel_mean) / self.pixel_std  # (B, 3, H, W)

    @torch.no_grad()
    def build_class_embeddings(self) -> torch.Tensor:
        """(C, D) zero-shot classifier for the current dataset under the protocol."""
        from ovseg.evaluation.zero_shot import build_text_classifier

        templates = get_templates(self.protocol.templates)
        return build_text_classifier(self.encode_text, self.prompt_names, templates).to(self.device)

    @torch.no_grad()
    def predict_scores(self, images: torch.Tensor, original_size: tuple[int, int]) -> torch.Tensor:
        """Scores at the original size under the protocol: windows scored one by one
        (``window_scores``), averaged, resized. (B, 1 + C, H0, W0) with background first when
        ``has_background_channel()``, else (B, C, H0, W0)."""
        if self._class_embeddings is None:
            self._class_embeddings = self.build_class_embeddings()
        embeddings = self._class_embeddings
        p = self.protocol
        return infer_scores(
            lambda window: self.window_scores(window, embeddings),
            images,
            original_size,
            short_side=p.short_side,
            max_long_side=p.max_long_side,
            mode=p.mode,
            crop=p.crop,
            stride=p.stride,
        )  # (B, [1 +] C, H0, W0)

    def predict_labels(self, images: torch.Tensor, original_size: tuple[int, int]) -> torch.Tensor:
        """Label maps (B, H0, W0) for normalised images: background 0 where the dataset has one."""
        return self.labels_from_scores(self.predict_scores(images, original_size))

    def _eval_epoch_start(self) -> None:
        if self.eval_metric is None:
            self._require_dataset()
        self._class_embeddings = self.build_class_embeddings()
        self.eval_metric.reset()
        self.eval_images.reset()
        self._eval_started = time.perf_counter()

    def _eval_step(self, batch: EvalBatch) -> None:
        labels = batch["label"]  # (B, H0, W0)
        pred = self.predict_labels(self.normalize(batch["image"]), tuple(labels.shape[-2:]))  # (B, H0, W0)
        self.eval_metric.update(pred, labels)
        self.eval_images.update(torch.tensor(float(labels.shape[0]), device=self.device))

    def _eval_epoch_end(self, stage: str) -> dict:
        scores = self.eval_metric.compute()
        num_images = int(self.eval_images.compute().item())
        for key in ("mIoU", "aAcc", "mAcc"):
            self.log(f"{stage}/{key}", scores[key], rank_zero_only=True)
        record = self.evaluation_record(scores, num_images, time.perf_counter() - self._eval_started)
        self._class_embeddings = None
        fitting = self._trainer is not None and self.trainer.state.fn == "fit"
        if not fitting and self.trainer.is_global_zero:
            print_results(record)
            path = self.results_path(stage)
            write_json_atomic(path, record)
            print(f"results written to {path}")
        return record

    def results_path(self, stage: str) -> Path:
        folder = self.results_dir or self.trainer.log_dir or self.trainer.default_root_dir
        return Path(folder) / f"{stage}_{self.dataset.name}_{self.protocol.name}.json"

    def evaluation_record(self, scores: dict, num_images: int, seconds: float) -> dict:
        """Metrics plus everything that produced them, for the result JSON."""
        from ovseg import __version__

        spec = self._require_dataset()
        p = self.protocol
        trainer = self._trainer
        return {
            "metrics": scores,
            "dataset": {
                "name": spec.name,
                "num_images": num_images,
                "class_names": list(spec.class_names),
                "label_names": list(spec.label_names),
                "has_background": spec.has_background,
                "reduce_zero_label": spec.reduce_zero_label,
            },
            "protocol": {
                "name": p.name,
                "prompt_names": list(self.prompt_names),
                "templates": list(get_templates(p.templates)),
                "template_set": p.templates,
                "bg_threshold": None if self.predicts_background() else self.bg_threshold,
                "background_rule": self.background_rule(),
                "class_filter": self.class_filter(),
                "short_side": p.short_side,
                "max_long_side": p.max_long_side,
                "mode": p.mode,
                "crop": p.crop,
                "stride": p.stride,
                "top_k_classes": p.top_k_classes,
                "top_k_combine": p.top_k_combine,
                "image_mean": list(self.image_mean),
                "image_std": list(self.image_std),
            },
            "model": type(self).__name__,
            "checkpoint": getattr(trainer, "ckpt_path", None) if trainer is not None else None,
            "eval_seconds": round(seconds, 3),
            "ovseg_version": __version__,
            "torch_version": torch.__version__,
        }

    def background_rule(self) -> str | None:
        """How background is decided: the protocol's rule ("window", "constant", "threshold"),
        "argmax" (a background class of the model's own) or None (a benchmark without background)."""
        if not self._require_dataset().has_background:
            return None
        return "argmax" if self.predicts_background() else self.protocol.bg_rule

    def class_filter(self) -> dict | None:
        """The class filter applied ({"top_k", "combine"}), or None (none, or a closed-vocabulary
        model, which has no text to rank classes by)."""
        p = self.protocol
        if p.top_k_classes is None or self.predicts_background():
            return None
        return {"top_k": p.top_k_classes, "combine": p.top_k_combine}

    def on_validation_epoch_start(self) -> None:
        self._eval_epoch_start()

    def validation_step(self, batch: EvalBatch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_epoch_start()

    def test_step(self, batch: EvalBatch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def on_predict_epoch_start(self) -> None:
        self._class_embeddings = self.build_class_embeddings()

    def predict_step(self, batch: EvalBatch, batch_idx: int) -> dict:
        images = batch["image"]  # (B, 3, H0, W0)
        labels = self.predict_labels(self.normalize(images), tuple(images.shape[-2:]))  # (B, H0, W0)
        return {"name": batch.get("name"), "labels": labels.cpu()}


# The run's evaluation settings (protocol, dataset, templates, ...): the base class's constructor
# arguments. Methods keep them out of saved hyper-parameters, so a checkpoint never overrides the
# command line's evaluation settings.
EVALUATION_SETTINGS = tuple(inspect.signature(OpenVocabSegmenter.__init__).parameters)[1:]
