"""Continual learning's results (docs/results.md, "Continual learning"): for each extended checkpoint,
accuracy before and after on every old test set and on the new task (paired by example id, 95% Wilson
intervals, the paired change with Newcombe's paired interval, McNemar's exact p), forgetting pooled over
the old sets, where the router sends each probe dataset at the extension's last probe, and how far the
invariant module moved (linear CKA of its states before vs after on the same examples).

    python scripts/continual_table.py checkpoints/iclm-k2-pvr checkpoints/iclm-k2-pvr-sequential \\
        checkpoints/baseline-pvr-sequential --json docs/results/continual.json > docs/results/continual.md

Reads what `make continual` writes: each extension's lineage.json, eval/predictions.jsonl, eval-parent/
(the parent scored on the new task's test lines), metrics.jsonl and analysis/, and its parent's eval/ and
analysis/. Everything is computed by analysis.continual, the functions the Continual learning page uses.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.accuracy import read_predictions  # noqa: E402
from analysis.continual import (  # noqa: E402
    before_after,
    invariant_drift,
    pooled_forgetting,
    with_parent_on_new_task,
)
from iclm.checkpoint_format import variant_has_router  # noqa: E402
from iclm.extension import Lineage, read_lineage  # noqa: E402
from iclm.training.metrics_log import read_metrics_log  # noqa: E402
from studio.checkpoints import parent_folder  # noqa: E402  (torch- and streamlit-free)


def parent_of(child: Path, lineage: Lineage) -> Path:
    """The parent as the studio finds it (`studio.checkpoints.parent_folder`), or one clear error."""
    found = parent_folder(lineage.parent, child)
    if found is None:
        raise SystemExit(f"error: {child}/lineage.json: parent {lineage.parent} is not found")
    return found


def how(lineage: Lineage) -> str:
    if lineage.added_domain is None:
        return "fine-tuned as it is (nothing added, nothing frozen)"
    invariant = lineage.plan.get("invariant", "frozen")
    return f"grown by domain_{lineage.added_domain} (old domains frozen, invariant {invariant})"


def last_routing(child: Path) -> dict[str, dict[str, float]]:
    """Share of each probe dataset sent to each domain at the last probe of the extension's training ({} for
    a variant without a router: a single LoRA logs everything as domain_0)."""
    config = json.loads((child / "config.json").read_text(encoding="utf-8"))
    if not variant_has_router(config.get("variant", "iclm")) or not (child / "metrics.jsonl").is_file():
        return {}
    probed = [
        r for r in read_metrics_log(child / "metrics.jsonl").records if r.get("probe_routing_by_dataset")
    ]
    return dict(probed[-1]["probe_routing_by_dataset"]) if probed else {}


def drift(parent: Path, child: Path) -> dict | None:
    """invariant_drift as a dict, or None where either side has no artifact or no invariant module."""
    from analysis.collect import load_artifact

    if (
        not (parent / "analysis" / "manifest.json").is_file()
        or not (child / "analysis" / "manifest.json").is_file()
    ):
        return None
    before, after = load_artifact(parent / "analysis"), load_artifact(child / "analysis")
    if "invariant" not in before.states or "invariant" not in after.states:
        return None
    found = invariant_drift(
        before.states["invariant"], list(before.examples["id"]),
        after.states["invariant"], list(after.examples["id"]),
    )  # fmt: skip
    return asdict(found)


def summarize(child: Path, method: str) -> dict:
    lineage = read_lineage(child)
    if lineage is None:
        raise SystemExit(f"error: {child}: no lineage.json (not an extension: python -m iclm extend)")
    parent = parent_of(child, lineage)
    before = read_predictions(parent / "eval" / "predictions.jsonl")
    if (child / "eval-parent" / "predictions.jsonl").is_file():
        before = with_parent_on_new_task(
            before, read_predictions(child / "eval-parent" / "predictions.jsonl")
        )
    after = read_predictions(child / "eval" / "predictions.jsonl")
    table = before_after(before, after, lineage.datasets, method=method)
    pooled = pooled_forgetting(before, after, lineage.datasets, method=method)
    return {
        "run": child.name,
        "parent": parent.name,
        "how": how(lineage),
        "steps": lineage.steps,
        "method": method,
        "datasets": json.loads(table.to_json(orient="records", double_precision=15)),  # tiny p-values kept
        "pooled_forgetting": None if pooled is None else asdict(pooled),
        "invariant_drift": drift(parent, child),
        "routing_at_last_probe": last_routing(child),
    }


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _interval(value: float, low: float, high: float, signed: bool = False) -> str:
    form = "{:+.1f}" if signed else "{:.1f}"
    return f"{form.format(100 * value)} [{form.format(100 * low)}, {form.format(100 * high)}]"


def _side(row: dict, side: str, signed: bool = False) -> str:
    """A before_after row's `side` ("before", "after", "change") with its interval, in points."""
    return _interval(row[side], row[f"{side} low"], row[f"{side} high"], signed)


def summary_table(runs: list[dict]) -> str:
    lines = [
        "| run | what trained | new task before → after (%) | forgetting over old sets (points) | "
        "McNemar p | invariant CKA before vs after |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        new = [d for d in run["datasets"] if d["role"] == "new"]
        gain = (
            "; ".join(
                f"{d['dataset']}: {_pct(d['before'])} → {_side(d, 'after')} (n = {d['n']}, {d['scoring']})"
                for d in new
            )
            or "– (parent not scored on it)"
        )
        pooled = run["pooled_forgetting"]
        forgetting = (
            "–" if pooled is None
            else f"{_interval(pooled['forgetting'], pooled['low'], pooled['high'], signed=True)} "
            f"(n = {pooled['n']}, {pooled['datasets']} sets)"
        )  # fmt: skip
        p = "–" if pooled is None else f"{pooled['p_value']:.3g}"
        found = run["invariant_drift"]
        cka = (
            "n/a"
            if found is None
            else f"{found['cka']:.3f} [{found['low']:.3f}, {found['high']:.3f}] (n = {found['n']})"
        )
        lines.append(
            f"| `{run['run']}` | {run['how']}, {run['steps']} steps | {gain} | {forgetting} | {p} | {cka} |"
        )
    return "\n".join(lines)


def dataset_table(run: dict) -> str:
    lines = [
        f"`{run['run']}` (parent `{run['parent']}`, {run['method']} scoring; change = after − before, "
        "Newcombe's 95% interval for paired proportions):",
        "",
        "| dataset | role | scoring | n | before | after | change (points) | McNemar p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in run["datasets"]:
        lines.append(
            f"| {d['dataset']} | {d['role']} | {d['scoring']} | {d['n']} "
            f"| {_side(d, 'before')} | {_side(d, 'after')} "
            f"| {_side(d, 'change', signed=True)} | {d['McNemar p']:.3g} |"
        )
    return "\n".join(lines)


def routing_table(runs: list[dict]) -> str:
    lines = ["| run | probe dataset | share per domain at the last probe |", "|---|---|---|"]
    for run in runs:
        for dataset, shares in sorted(run["routing_at_last_probe"].items()):
            cells = ", ".join(f"{domain} {share:.2f}" for domain, share in sorted(shares.items()))
            lines.append(f"| `{run['run']}` | {dataset} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("extensions", nargs="+", type=Path, help="extended checkpoint folders")
    parser.add_argument("--method", default="choice", choices=["choice", "greedy"])
    parser.add_argument("--json", type=Path, help="also write every number as JSON here")
    args = parser.parse_args(argv)
    runs = [summarize(folder, args.method) for folder in args.extensions]
    parts = ["### Summary", "", summary_table(runs), ""]
    routed = routing_table(runs)
    if routed.count("\n") > 1:
        parts += ["### Routing at the extension's last probe", "", routed, ""]
    parts += ["### Per dataset", ""]
    for run in runs:
        parts += [dataset_table(run), ""]
    print("\n".join(parts))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
