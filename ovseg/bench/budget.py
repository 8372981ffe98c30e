"""Each method's budget, read from what its run actually did, and a plain statement of any difference.

Nothing is assumed: steps, batch size and images seen come from the training recorder, the training
data from the data module, the evaluation from the result records. Two methods trained with
different batch sizes see different numbers of images in the same number of steps; the statement
says so. A method distilled from another (S-Seg+ from S-Seg, ``teacher``) is compared on its
evaluation only; its own training comes on top of its teacher's, and the statement says how much.
"""

from __future__ import annotations


def method_budget(entry: dict) -> dict:
    """Steps, batch size, images seen and evaluation images of one report entry."""
    train = entry.get("train") or {}
    return {
        "steps": train.get("steps"),
        "batch_size": train.get("batch_size"),
        "images_seen": train.get("images"),
        "training_data": train.get("data"),
        "evaluation_images": {name: result["num_images"] for name, result in entry["results"].items()},
        "teacher": entry.get("teacher"),
    }


def _differences(budgets: dict[str, dict], key: str) -> dict[str, object] | None:
    values = {name: budget[key] for name, budget in budgets.items()}
    return values if len({repr(value) for value in values.values()}) > 1 else None


def budget_statement(budgets: dict[str, dict], trained: bool) -> str:
    """One sentence per difference between the methods' budgets, or the statement that they match."""
    notes = []
    own = {name: budget for name, budget in budgets.items() if not budget.get("teacher")}
    if trained:
        steps = _differences(own, "steps")
        images = _differences(own, "images_seen")
        if steps:
            notes.append("optimisation steps differ: " + _listing(steps))
        if images:
            batches = ", ".join(f"{n} batch {b['batch_size']}" for n, b in own.items())
            notes.append(f"images seen differ ({batches}): " + _listing(images))
        if _differences(own, "training_data"):
            notes.append("the methods trained on different data (see training_data per method)")
    evaluation = _differences(budgets, "evaluation_images")
    if evaluation:
        notes.append("evaluation images differ: " + _listing(evaluation))
    distilled = " ".join(
        _distilled(name, budget) for name, budget in budgets.items() if budget.get("teacher")
    )
    if notes:
        return " ".join(["Budget differences: " + "; ".join(notes) + ".", distilled]).strip()
    if not trained:
        return (
            "Same evaluation for every checkpoint (datasets, images, protocol); no training in real "
            "mode, so each checkpoint's training budget is that of its own recipe."
        )
    first = next(iter(own.values()))
    same = (
        f"Same budget for every method: {first['steps']} optimisation steps, {first['images_seen']} "
        f"training images seen (batch {first['batch_size']}), the same training data and the same "
        "evaluation images."
    )
    return " ".join([same, distilled]).strip()


def _distilled(name: str, budget: dict) -> str:
    """What a method distilled from a teacher spent on top of the teacher's budget."""
    return (
        f"{name} starts from {budget['teacher']}'s labels of the training scenes and adds "
        f"{budget['steps']} steps of its own ({budget['images_seen']} images, batch {budget['batch_size']})."
    )


def _listing(values: dict[str, object]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items())
