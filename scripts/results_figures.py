"""The experiment's figures for docs/results.md, exported with the studio's own figure set and export.

    python scripts/results_figures.py checkpoints/iclm-k2 checkpoints/baseline --out docs/results/figures

For each checkpoint folder: every standard figure its files allow (`studio.figure_set.standard_figures`,
the set the studio's "Export figure set" button writes: accuracy per split and readout with the other
given folders' models beside it, accuracy per dataset, the router's PCA map and cluster x dataset
contingency, module CKA at inference, and the default training curves with MI and CKA), exported by
`analysis.export.export_figure_set` into ``OUT/<folder name>/`` with its manifest. PNG needs Chromium
(`scripts/ensure_chromium.sh`); ``--formats`` picks others (csv and json carry each figure's data).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.export import ALL_FORMATS, export_figure_set  # noqa: E402
from studio import figure_set  # noqa: E402
from studio.checkpoints import CheckpointError, inspect  # noqa: E402


def export_checkpoint(
    folder: Path, out: Path, formats: tuple[str, ...], scale: float, compare: list[Path]
) -> list[str]:
    """Export `folder`'s standard figures into `out` (its accuracy bars beside `compare`'s models); the
    names of the figures written."""
    files = inspect(folder)
    figures = figure_set.standard_figures(files, compare=compare)
    if not figures:
        raise CheckpointError(f"{folder}: no figure can be drawn (no eval/, analysis/ or metrics.jsonl)")
    manifest = figure_set.manifest(files, figures, set(figures))
    export_figure_set(figures, out, formats=formats, scale=scale, manifest=manifest)
    return sorted(figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="checkpoint folders")
    parser.add_argument("--out", type=Path, required=True, help="one sub-folder per checkpoint goes here")
    parser.add_argument("--formats", nargs="+", default=["png", "csv"], choices=ALL_FORMATS)
    parser.add_argument("--scale", type=float, default=2.0, help="PNG pixel multiplier")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for folder in args.folders:
        try:
            out = args.out / folder.name
            names = export_checkpoint(folder, out, tuple(args.formats), args.scale, args.folders)
        except CheckpointError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{folder}: {len(names)} figures -> {args.out / folder.name}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
