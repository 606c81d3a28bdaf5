"""Print the README's results tables from the shipped checkpoints' `eval/results.json`.

    python scripts/results_table.py checkpoints/iclm-k2 checkpoints/no-invariant-k2 checkpoints/baseline
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iclm.evaluation.report import load_results, markdown_table, summary_table  # noqa: E402


def main(folders: list[str]) -> int:
    named = [(Path(f).name, load_results(Path(f) / "eval" / "results.json")) for f in folders]
    print(summary_table(named))
    print(markdown_table(named))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
