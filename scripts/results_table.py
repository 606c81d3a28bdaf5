"""The experiment's results (docs/results.md): accuracy tables with 95% Wilson intervals, chance and
majority lines, and paired McNemar tests of the reference run against each other run.

    python scripts/results_table.py checkpoints/iclm-k2 checkpoints/no-invariant-k2 checkpoints/baseline \\
        checkpoints/oracle-k4 --reference iclm-k2 --json docs/results/results.json > docs/results/tables.md

Reads each folder's `eval/results.json` and `eval/predictions.jsonl` (python -m iclm evaluate). Cells are
accuracy in % with the 95% Wilson interval; `method` picks choice scoring (default: the benchmark's
multiple-choice accuracy) or greedy exact match. The paired tests compare the reference's `model` readout
with each other run's `model` readout on the same examples (iclm/evaluation/compare.py); `--pair A B`
adds one more, where A or B may name a readout (`oracle-k4:routed_domain baseline`).

`routed_domain` is derived here for a run whose rows carry an oracle route and every domain module's
readout: each example's answer from the domain module its true dataset is routed to, alone (no invariant
module, no aggregation): the "single module given a perfect router" of the paper's claim (c).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iclm.evaluation.compare import paired_comparison  # noqa: E402
from iclm.evaluation.report import aggregate, load_results  # noqa: E402
from iclm.evaluation.statistics import difference_interval  # noqa: E402

ROUTED_DOMAIN = "routed_domain"


def _predictions(folder: Path) -> list[dict]:
    """The folder's prediction rows, with the derived `routed_domain` readout where it applies."""
    path = folder / "eval" / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        routed = row["readouts"].get(f"domain_{row.get('oracle_route')}")
        if row.get("oracle_route") is not None and routed is not None:
            row["readouts"][ROUTED_DOMAIN] = routed
    return rows


def _side(text: str) -> tuple[str, str]:
    """ "run" or "run:readout" -> (run, readout)."""
    run, _, readout = text.partition(":")
    return run, readout or "model"


def _label(run: str, readout: str) -> str:
    return run if readout == "model" else f"{run}:{readout}"


def _cell(entry: dict | None, readout: str, method: str) -> str:
    cell = (entry or {}).get("intervals", {}).get(method, {}).get(readout)
    if cell is None:
        return "–"
    return f"{100 * cell['accuracy']:.1f} [{100 * cell['low']:.1f}, {100 * cell['high']:.1f}]"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _rows(results: dict) -> list[dict]:
    return list(results["datasets"]) + [
        {"dataset": f"all {split}", "split": split} | entry for split, entry in results["splits"].items()
    ]


def accuracy_table(runs: dict[str, dict], readouts: dict[str, list[str]], method: str) -> str:
    """A row per dataset (then per split), a column per (run, readout); n, chance and majority first."""
    columns = [(run, readout) for run in runs for readout in readouts[run]]
    header = ["dataset", "split", "n", "chance", "majority"] + [
        f"{run}: {readout}" for run, readout in columns
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    first = next(iter(runs.values()))
    for row in _rows(first):
        entries = {
            run: next(
                (e for e in _rows(r) if (e["dataset"], e["split"]) == (row["dataset"], row["split"])), None
            )
            for run, r in runs.items()
        }
        cells = [_cell(entries[run], readout, method) for run, readout in columns]
        head = [
            row["dataset"],
            row["split"],
            str(row["n"]),
            _percent(row.get("chance")),
            _percent(row.get("majority")),
        ]
        lines.append("| " + " | ".join(head + cells) + " |")
    return "\n".join(lines) + "\n"


def _family(dataset: str) -> str:
    """A test set's task and rendering ("acre-symbolic-comp" -> "acre-symbolic"): its i.i.d. set's family."""
    return "-".join(dataset.split("-")[:2])


def transfer_rows(results: dict, method: str) -> list[dict]:
    """For each o.o.d. set, the model readout's accuracy on it against its family's i.i.d. set (another
    sample of examples: an unpaired difference with Newcombe's interval); claim (a) of docs/results.md."""
    cells = {
        d["dataset"]: (d["split"], d["intervals"][method]["model"])
        for d in results["datasets"]
        if "model" in d.get("intervals", {}).get(method, {})
    }
    iid = {_family(name): cell for name, (split, cell) in cells.items() if split == "iid"}
    rows = []
    for name, (split, ood) in cells.items():
        ref = iid.get(_family(name))
        if split == "iid" or ref is None:
            continue
        diff = difference_interval(ood["correct"], ood["n"], ref["correct"], ref["n"])
        rows.append(
            {"dataset": name, "iid": ref, "ood": ood}
            | {"difference": diff.difference, "low": diff.low, "high": diff.high}
        )
    return rows


def transfer_table(runs: dict[str, dict], method: str) -> str:
    """A row per (run, o.o.d. set): i.i.d. and o.o.d. accuracy and the o.o.d. - i.i.d. difference."""
    lines = ["| run | o.o.d. set | i.i.d. % (n) | o.o.d. % (n) | o.o.d. - i.i.d. [95%] |", "|" + "---|" * 5]
    for run, results in runs.items():
        for r in transfer_rows(results, method):
            iid, ood = r["iid"], r["ood"]
            lines.append(
                f"| {run} | {r['dataset']} | {100 * iid['accuracy']:.1f} ({iid['n']})"
                f" | {100 * ood['accuracy']:.1f} ({ood['n']}) | {100 * r['difference']:+.1f}"
                f" [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}] |"
            )
    return "\n".join(lines) + "\n"


def paired_table(paired: dict[str, list[dict]]) -> str:
    """A row per dataset, per compared pair: both accuracies, discordant counts and McNemar's p."""
    lines = ["| comparison | dataset | n | A % | B % | only A | only B | p |", "|" + "---|" * 8]
    for name, results in paired.items():
        for r in results:
            test = r["test"]
            a, b = f"{100 * r['accuracy_a']:.1f}", f"{100 * r['accuracy_b']:.1f}"
            lines.append(
                f"| {name} | {r['dataset']} | {r['n']} | {a} | {b}"
                f" | {test['only_a']} | {test['only_b']} | {test['p_value']:.3g} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="evaluated checkpoint folders")
    parser.add_argument("--reference", help="run name (folder name) compared with each other run")
    parser.add_argument("--method", choices=["choice", "greedy"], default="choice")
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    parser.add_argument(
        "--pair", nargs=2, action="append", default=[], metavar=("A", "B"),
        help="one more paired comparison (run names), beside the reference's: e.g. --pair oracle-k4 baseline",
    )  # fmt: skip
    args = parser.parse_args()
    # aggregated again from the predictions, so that evaluations written before results.json carried
    # intervals get them too (their chance column stays empty: their rows lack num_choices)
    runs = {}
    for folder in args.folders:
        written = load_results(folder / "eval" / "results.json")
        rows = _predictions(folder)
        readouts = list(written["readouts"])
        if rows and all(ROUTED_DOMAIN in r["readouts"] for r in rows):
            readouts.append(ROUTED_DOMAIN)
        runs[folder.name] = written | {"readouts": readouts} | aggregate(rows, readouts)
    reference = args.reference or args.folders[0].name
    if reference not in runs:
        print(f"error: --reference {reference!r} is not one of {sorted(runs)}", file=sys.stderr)
        return 2
    sides = [_side(text) for pair in args.pair for text in pair]
    unknown = sorted(
        {f"{run}:{readout}" for run, readout in sides if readout not in runs.get(run, {}).get("readouts", [])}
    )
    if unknown:
        print(f"error: --pair names {unknown}: not a run and readout of {sorted(runs)}", file=sys.stderr)
        return 2
    folders = {f.name: f for f in args.folders}
    pairs = [((reference, "model"), (name, "model")) for name in runs if name != reference]
    pairs += [(_side(a), _side(b)) for a, b in args.pair if (_side(a), _side(b)) not in pairs]
    paired = {
        f"{_label(*a)} vs {_label(*b)}": [
            r.as_dict()
            for r in paired_comparison(
                _predictions(folders[a[0]]), _predictions(folders[b[0]]), a[1], b[1], method=args.method
            )
        ]
        for a, b in pairs
    }
    models = {run: ["model"] for run in runs}
    print(f"## Accuracy of each run's model readout ({args.method} scoring, %, 95% Wilson interval)\n")
    print(accuracy_table(runs, models, args.method))
    for run in [reference, *(r for r in runs if r != reference and len(runs[r]["readouts"]) > 1)]:
        print(f"## Every readout of {run}\n")
        print(accuracy_table({run: runs[run]}, {run: runs[run]["readouts"]}, args.method))
    print(f"## Paired McNemar tests, {reference} (A) against each run (B), and each --pair\n")
    print(paired_table(paired))
    print("## o.o.d. against i.i.d., per task and rendering (Newcombe interval of the difference, points)\n")
    print(transfer_table(runs, args.method))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        transfer = {run: transfer_rows(results, args.method) for run, results in runs.items()}
        payload = {
            "method": args.method,
            "reference": reference,
            "runs": runs,
            "paired": paired,
            "transfer": transfer,
        }
        args.json.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
