"""A method's ``result.json`` (from ``method_run`` or ``checkpoint_run``) → its entry in the report.

An entry::

    {"source": recipe or checkpoint path, "model": class name, "parameters": {"total", "trainable"},
     "train": {"steps", "images", "batch_size", "seconds", "images_per_s", "data"} | None,
     "peak_memory_mb": float, "device": str, "threads": int,
     "ceilings": {dataset: the confidence ceiling on its classes at its threshold | None},
     "naming": {"mIoU", "IoU", "class_names", "uniform_chance", "recognition_auc"}, background ignored
     (``method_run``) | None,
     "results": {dataset: {"mIoU", "aAcc", "mAcc", "IoU", "Acc", "label_names", "num_images",
                          "eval_seconds", "images_per_s", "protocol": {...}}},
     "average": {"mIoU", "aAcc", "eval_images_per_s"}}  (over the datasets)
"""

from __future__ import annotations

DISPLAY_NAMES = {"segclip": "SegCLIP", "sseg": "S-Seg", "sseg+": "S-Seg+"}


def display_name(alias: str) -> str:
    return DISPLAY_NAMES.get(alias, alias)


def dataset_result(record: dict) -> dict:
    """The figures of one evaluation record (the ``ovseg test`` result JSON)."""
    metrics, dataset = record["metrics"], record["dataset"]
    seconds = record["eval_seconds"]
    return {
        "mIoU": metrics["mIoU"],
        "aAcc": metrics["aAcc"],
        "mAcc": metrics["mAcc"],
        "IoU": metrics["IoU"],
        "Acc": metrics.get("Acc"),
        "label_names": dataset["label_names"],
        "num_images": dataset["num_images"],
        "eval_seconds": seconds,
        "images_per_s": round(dataset["num_images"] / max(seconds, 1e-9), 2),
        "protocol": record["protocol"],
    }


def method_entry(result: dict) -> dict:
    """The report entry of one method's run, trained (synthetic mode) or evaluated from a checkpoint."""
    records = result["evals"] if "evals" in result else {result["eval"]["dataset"]["name"]: result["eval"]}
    train = result.get("train")
    entry = {
        "source": result.get("recipe") or result.get("checkpoint"),
        "model": result["model"],
        "parameters": result["parameters"],
        "train": None if train is None else {k: v for k, v in train.items() if k != "loss_curve"},
        "peak_memory_mb": result["peak_memory_mb"],
        "device": result.get("device"),
        "threads": result.get("threads"),
        "ceilings": result["ceilings"],
        "naming": result.get("naming"),
        "results": {name: dataset_result(record) for name, record in records.items()},
    }
    entry["average"] = {
        "mIoU": mean_of(entry, "mIoU"),
        "aAcc": mean_of(entry, "aAcc"),
        "eval_images_per_s": eval_images_per_s(entry),
    }
    return entry


def eval_images_per_s(entry: dict) -> float | None:
    """Evaluation throughput over all datasets: images scored / seconds spent."""
    results = entry["results"].values()
    seconds = sum(result["eval_seconds"] for result in results)
    return sum(result["num_images"] for result in results) / seconds if seconds > 0 else None


def mean_of(entry: dict, key: str) -> float | None:
    """Mean of one figure (mIoU, aAcc) over the datasets that have it."""
    values = [result[key] for result in entry["results"].values() if result.get(key) is not None]
    return sum(values) / len(values) if values else None
