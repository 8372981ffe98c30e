"""A trained segmenter from a file, outside LightningCLI: for ``ovseg predict``, ``ovseg pseudo-label``
and ``ovseg oracle``.

Three kinds of file give a model back:

- a Lightning ``.ckpt`` written by ovseg: the class and the architecture come from its
  hyper-parameters (``_class_path`` and the constructor arguments, as ``ovseg export`` reads them),
  then its state dict is loaded;
- an ``ovseg export`` ``.safetensors`` file: the same, from the export's JSON metadata;
- any other weights file (the released ``segclip.bin``, a bare state dict): the method must be named
  (``method="segclip"``) and its constructor loads the file into the default (paper-sized) model.
  A selftrain model is never read from bare weights: only its .ckpt or export stores its classes.

segclip and sseg are open-vocabulary: they segment any class names (``dataset``). selftrain is
closed-vocabulary: it predicts the classes it was trained for (``model_classes``), so a command loads
it without a dataset, checks the classes it wants against the model's, then calls ``use_dataset``.

Every file is read by ``ovseg.safe_load`` (safetensors or ``torch.load(weights_only=True)``), and
only the classes of ovseg's short-name table are built, never a class a file names.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import torch

from ovseg.data.catalog import DatasetSpec
from ovseg.errors import OvsegUserError
from ovseg.methods.base import OpenVocabSegmenter

# method short name → class path (the ``--model`` names of ``ovseg.cli``).
METHOD_CLASSES = {
    "segclip": "ovseg.methods.segclip.SegCLIP",
    "sseg": "ovseg.methods.sseg.SSeg",
    "selftrain": "ovseg.methods.selftrain.SelfTrain",
}
# the methods whose constructor reads a bare weights file (a released segclip.bin, a state dict).
FROM_BARE_WEIGHTS = ("segclip", "sseg")


def resolve_device(name: str) -> str:
    """``auto`` → cuda when available, else cpu; a CUDA device on a machine without one is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OvsegUserError(f"--device {name}: there is no CUDA device here; use --device cpu.")
    return name


def _method_class(class_path: str) -> type[OpenVocabSegmenter]:
    module_name, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def _method_of(class_path: str | None, method: str | None, path: Path) -> str:
    """The short name of the file's class, checked against ``method`` when both are known."""
    stored = next((name for name, cls in METHOD_CLASSES.items() if cls == class_path), None)
    if class_path and stored is None:
        raise OvsegUserError(
            f"'{path}' holds a {class_path}; this command builds {', '.join(METHOD_CLASSES)} models only."
        )
    if stored and method and stored != method:
        raise OvsegUserError(
            f"'{path}' is a {stored} checkpoint, but this needs a {method} one: pass a {method} "
            "checkpoint (or, where the command has --model, name the checkpoint's own method)."
        )
    chosen = stored or method
    if chosen is None:
        raise OvsegUserError(
            f"'{path}' does not say which method it belongs to; name it with "
            f"--model {'|'.join(METHOD_CLASSES)} (a released segclip.bin needs --model segclip)."
        )
    return chosen


def _from_bare_weights(path: Path, method: str | None, evaluation: dict) -> OpenVocabSegmenter:
    """The named method's default model with the weights file ``path`` loaded by its constructor."""
    chosen = _method_of(None, method, path)
    if chosen not in FROM_BARE_WEIGHTS:
        raise OvsegUserError(
            f"'{path}' is neither an ovseg .ckpt nor an 'ovseg export' .safetensors file: a {chosen} model "
            "is loaded from one of those, which store the classes and sizes it was trained with. Pass its "
            "Lightning .ckpt, or export it with: ovseg export --ckpt RUN.ckpt --out MODEL.safetensors"
        )
    cls = _method_class(METHOD_CLASSES[chosen])
    extra = {"clip_pretrained": None} if cls.__name__ == "SegCLIP" else {}
    return cls(weights=str(path), **extra, **evaluation)


def _architecture(hparams: dict) -> dict:
    """Constructor arguments from saved hyper-parameters; weight sources are switched off."""
    from ovseg.exported import SUPERSEDED_BY_EXPORT

    init_args = {key: value for key, value in hparams.items() if not key.startswith("_")}
    init_args.update({key: value for key, value in SUPERSEDED_BY_EXPORT.items() if key in init_args})
    return init_args


def _read_saved(path: Path) -> tuple[str | None, dict, dict] | None:
    """(class path, hyper-parameters, state dict) of an ovseg .ckpt or export; None for other files."""
    from ovseg.exported import model_arguments, read_safetensors_metadata
    from ovseg.safe_load import load_weights_object

    if path.suffix == ".safetensors":
        metadata = read_safetensors_metadata(path)
        if metadata.get("ovseg_export") is None:
            return None
        model_arguments(path)  # refuses an export of another format version
        hparams = json.loads(metadata.get("hyper_parameters", "{}"))
        return metadata.get("class_path") or None, hparams, load_weights_object(path)
    if path.suffix != ".ckpt":
        return None
    checkpoint = load_weights_object(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise OvsegUserError(
            f"'{path}' has no 'state_dict': not a Lightning checkpoint. Rename plain weights to "
            ".bin/.pt/.safetensors and name the method with --model."
        )
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    return hparams.get("_class_path"), hparams, checkpoint["state_dict"]


def load_segmenter(
    path: str | Path, method: str | None = None, device: str | torch.device = "cpu", **evaluation
) -> OpenVocabSegmenter:
    """The segmenter stored in ``path``, in eval mode on ``device``.

    Args:
        path: a Lightning ``.ckpt``, an ``ovseg export`` ``.safetensors`` file or a weights file.
        method: ``segclip``, ``sseg`` or ``selftrain``; needed for a weights file without
            hyper-parameters (segclip or sseg only), checked against the file's class otherwise.
        device: where the model runs.
        **evaluation: ``OpenVocabSegmenter`` arguments (protocol, dataset, templates, bg_threshold,
            short_side, mode, crop, stride). A selftrain model given a ``dataset`` refuses one with
            other classes than its own; leave ``dataset`` out and call ``use_dataset`` after checking.

    Raises:
        OvsegUserError: no such file, an unreadable or unsafe file, weights of another architecture.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise OvsegUserError(
            f"--ckpt {path}: no such file (a Lightning .ckpt, .safetensors or weights file)."
        )
    if method is not None and method not in METHOD_CLASSES:
        raise OvsegUserError(f"unknown --model '{method}'. Valid names: {', '.join(METHOD_CLASSES)}.")
    saved = _read_saved(path)
    if saved is None:  # foreign weights: the method's constructor reads them into its default model
        module = _from_bare_weights(path, method, evaluation)
    else:
        class_path, hparams, state = saved
        cls = _method_class(METHOD_CLASSES[_method_of(class_path, method, path)])
        try:
            module = cls(**_architecture(hparams), **evaluation)
        except TypeError as error:
            raise OvsegUserError(
                f"'{path}': its hyper-parameters do not fit {cls.__name__} ({error})."
            ) from None
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as error:
            first = str(error).splitlines()[:3]
            raise OvsegUserError(
                f"'{path}' does not fit the {cls.__name__} its hyper-parameters describe: {' '.join(first)}"
            ) from None
    return module.to(device).eval()


def model_classes(model: OpenVocabSegmenter) -> tuple[str, ...] | None:
    """The class names a closed-vocabulary segmenter (selftrain) predicts, in its output order; None for
    an open-vocabulary one (segclip, sseg), which segments any names it is given."""
    classes = getattr(model, "trained_classes", None)
    return None if classes is None else tuple(classes)


def describe_classes(names: tuple[str, ...], background: bool, shown: int = 30) -> str:
    """``"3 classes + background (ball, box, star)"``, the names cut after ``shown`` of them."""
    listed = ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more)" if len(names) > shown else "")
    return f"{len(names)} classes{' + background' if background else ''} ({listed})"


def use_dataset(model: OpenVocabSegmenter, spec: DatasetSpec) -> OpenVocabSegmenter:
    """``model`` set to predict the classes of ``spec``, checked as ``ovseg test`` checks them (names
    alike under the protocol; a selftrain model's own classes), its metric on the model's device."""
    model.dataset = spec
    model.setup("predict")
    return model.to(model.device)
