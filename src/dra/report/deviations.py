"""Protocol deviations: where a run departs from the paper's protocol, as short codes a table prints
in the cell and explains under it. A cell whose runs deviate is not comparable with the paper's
number: the table keeps that number beside ours, labelled, but never flags the difference as a
failed reproduction.

The protocol reference of a run is a dict:
    {"budget": 1.0, "weights": "imagenet",           # every run's
     "image_size": 448, "params": {...}}             # this variant on this dataset's, where known
`image_size` and `params` are the protocol's (config/config.yaml with each method's declared
defaults) for the run's variant and dataset: the table's layout carries them as
layout["protocol"][variant][dataset] where the planner knows them. Without them only the budget and
the weights are compared."""

from __future__ import annotations

import math

PROTOCOL = {"budget": 1.0, "weights": "imagenet"}  # docs/protocol.md: budget 1.0, ImageNet weights

# code -> what it means (the legend); in the order cells print them
CODES = {
    "B": "training budget other than 1 (every method's epochs scaled)",
    "W": "backbone weights other than ImageNet's",
    "S": "image size other than the protocol's",
    "P": "pseudo-anomaly or outlier source other than the protocol's",
    "T": "AHL's texture source other than DTD",
    "E": "schedule or another method parameter overridden",
}
SOURCE_KEYS = ("pseudo", "outliers")
SCHEDULE_KEYS = ("epochs", "finetune_epochs")  # scaled by the budget: already code B when it differs


def _differs(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return not math.isclose(float(a), float(b), rel_tol=1e-9)
    return a != b


def deviations(run: dict, protocol: dict | None = None) -> list[tuple[str, str]]:
    """[(code, what differs)] of one run (its metrics.json `spec`, or a runs.csv row with budget,
    weights, image_size and params) against `protocol`; empty when it follows the protocol."""
    ref = {**PROTOCOL, **(protocol or {})}
    out = []
    budget = run.get("budget", 1.0)
    if _differs(budget, ref["budget"]):
        out.append(("B", f"budget {budget:g}"))
    if run.get("weights", ref["weights"]) != ref["weights"]:
        out.append(("W", f"weights {run.get('weights')}"))
    if ref.get("image_size") is not None and run.get("image_size") is not None \
            and _differs(run["image_size"], ref["image_size"]):
        out.append(("S", f"image size {run['image_size']} (protocol {ref['image_size']})"))
    if ref.get("params") is not None:
        out += _param_deviations(run.get("params") or {}, ref["params"], budget_differs=_differs(budget, ref["budget"]))
    return sorted(out, key=lambda x: list(CODES).index(x[0]))


def _param_deviations(params: dict, ref: dict, budget_differs: bool) -> list[tuple[str, str]]:
    out = []
    for key in sorted(set(params) | set(ref)):
        if key in SCHEDULE_KEYS and budget_differs:
            continue
        have, want = params.get(key), ref.get(key)
        if not _differs(have, want):
            continue
        code = "P" if key in SOURCE_KEYS else "T" if key == "texture_source" else "E"
        out.append((code, f"{key} {have} (protocol {want})"))
    return out


def run_protocol(layout: dict, variant: str, dataset: str) -> dict | None:
    """The protocol reference the layout carries for (variant, dataset), if any."""
    return ((layout.get("protocol") or {}).get(variant) or {}).get(dataset)


def reasons(items: list[tuple[str, str]]) -> str:
    """'budget 0.1; weights none': the form a table's CSV and the summary count by."""
    return "; ".join(text for _, text in items)


def codes(items: list[tuple[str, str]]) -> str:
    return "".join(dict.fromkeys(code for code, _ in items))


def legend(used: str) -> str:
    """The legend line for the codes a table uses."""
    if not used:
        return ""
    parts = [f"{c} {CODES[c]}" for c in CODES if c in used]
    return ("Protocol deviations (in brackets after ours): " + "; ".join(parts) + ". A cell that deviates is not "
            "comparable with the paper's number: the difference is shown, labelled n.c., and never flagged.")
