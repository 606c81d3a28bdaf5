"""The checkpoint's standard figures, built from its files alone (no model), and the manifest of a figure
set, for "Export figure set".

The set holds the accuracy bars (both scorings, per split with the other checkpoints' models and per
dataset, with Wilson intervals and chance/majority marks), the PCA map of router embeddings coloured by
cluster and by dataset and the cluster/dataset contingency (routed variants only), the module similarity
heatmap, and the default training-dynamics curves; figures the user drew in this session (other settings,
attributions, interventions) are added by the widget with the settings they were drawn with.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from studio import errors, figure_loaders, loaders, tables, variant
from studio.checkpoints import CheckpointFiles, discover
from studio.widgets import DrawnFigure

logger = logging.getLogger(__name__)
Figures = dict[str, DrawnFigure]


def _accuracy(files: CheckpointFiles, out: Figures, compare: list[Path] | None = None) -> None:
    from analysis.accuracy import dataset_accuracy, dataset_baselines, split_accuracy, split_baselines
    from analysis.accuracy_figures import accuracy_bars, references_frame
    from analysis.palette import run_colors

    results = figure_loaders.results(files)
    if results is None:
        return
    named, colors = [(files.name, results)], run_colors(variant.known_runs(files))
    for folder in discover() if compare is None else compare:
        if folder.resolve() != files.folder.resolve() and (folder / "eval/results.json").is_file():
            try:
                named.append(figure_loaders.checkpoint_results(folder))
            except errors.expected() as error:
                logger.warning("figure set: %s left out of the comparison: %s", folder.name, error)
    baselines = dataset_baselines(results)
    compared = [name for name, _ in named[1:]]
    for method in ("choice", "greedy"):
        rows = split_accuracy(named, method)
        if not rows.empty:
            marks = references_frame(split_baselines(baselines), "split", tables.SPLIT_LABELS)
            bars = tables.bar_rows(rows, files.name)
            item = accuracy_bars(bars, marks, title=f"Accuracy ({method})", colors=colors)
            out[f"accuracy_{method}"] = DrawnFigure(
                item.figure, item.data, {"scoring": method, "compare": compared}
            )
        per_dataset = dataset_accuracy(files.name, results, method)
        if not per_dataset.empty:
            item = accuracy_bars(
                tables.bar_rows(per_dataset, files.name), references_frame(baselines, "dataset"),
                category="dataset", title=f"Accuracy per dataset ({method})", size="two_column",
                colors=colors,
            )  # fmt: skip
            out[f"accuracy_by_dataset_{method}"] = DrawnFigure(item.figure, item.data, {"scoring": method})


def _clusters(files: CheckpointFiles, out: Figures) -> None:
    from analysis.clusters import contingency_table
    from analysis.figures import contingency_heatmap, projection_scatter, similarity_heatmap
    from analysis.similarity import similarity_matrix

    art = loaders.artifact(files)
    if art is None:
        return
    examples = art.examples
    if variant.has_router(files) and "router_projected" in art.states:
        proj = loaders.projection(files, "router_projected", "pca")
        for color_by, values in (("cluster", examples["route"]), ("dataset", examples["dataset"])):
            item = projection_scatter(
                proj.coords, examples["id"].to_numpy(), values.to_numpy(), color_by=color_by
            )
            settings = {
                "projection": "pca",
                "embedding": "router_projected",
                "colour_by": color_by,
                "split": "all",
            }
            out[f"projection_pca_router_projected_{color_by}"] = DrawnFigure(item.figure, item.data, settings)
        table = contingency_table(examples["route"].to_numpy(), examples["dataset"].to_numpy())
        item = contingency_heatmap(table, title="Examples per cluster and dataset (all examples)")
        out["contingency_all"] = DrawnFigure(item.figure, item.data, {"split": "all"})
    states, _ = loaders.module_states(files, "forced")
    if len(states) >= 2 and len(next(iter(states.values()))) >= 4:
        item = similarity_heatmap(similarity_matrix(states, "cka"), metric="Linear CKA")
        settings = {"metric": "cka", "scope": "all", "colour_range": "data"}
        out["similarity_cka"] = DrawnFigure(item.figure, item.data, settings)


def _dynamics(files: CheckpointFiles, out: Figures) -> None:
    from analysis.figures import metric_lines

    frame, _ = tables.training_records(loaders.metrics(files))
    frame = tables.without_columns(frame, "loss_terms", variant.missing_terms(files))
    labels = {column: label for label, column in tables.DYNAMICS_GROUPS.items()}
    for column in tables.DEFAULT_DYNAMICS:
        if column in variant.missing_dynamics(files):
            continue
        history = tables.metric_history({files.name: frame}, column)
        if not history.empty:
            item = metric_lines(history, labels[column], primary_run=files.name)
            out[f"dynamics_{column}"] = DrawnFigure(
                item.figure, item.data, {"runs": [files.name], "smoothing": 0}
            )


PARTS = {"accuracy": _accuracy, "clusters": _clusters, "dynamics": _dynamics}


def unreadable_parts(files: CheckpointFiles) -> dict[str, str]:
    """{part: why} for the parts of the figure set whose files cannot be read (one line each, the folder
    written as its name), in the manifest instead of a failed download."""
    readers = {"accuracy": figure_loaders.results, "clusters": loaders.artifact, "dynamics": loaders.metrics}
    why = {}
    for part, read in readers.items():
        try:
            read(files)
        except errors.expected() as error:
            why[part] = errors.one_line(error, files.folder)
    return why


def standard_figures(files: CheckpointFiles, compare: list[Path] | None = None) -> Figures:
    """Every standard figure this checkpoint's files allow (parts it lacks, or cannot read, are left out).

    `compare`: the checkpoint folders whose models the accuracy bars show beside this one (default: every
    folder the studio discovers)."""
    out: Figures = {}
    unreadable = unreadable_parts(files)
    builders = PARTS | {"accuracy": partial(_accuracy, compare=compare)}
    for part, build in builders.items():
        if part not in unreadable:
            build(files, out)
    return out


def _modified(path: Path | None) -> str | None:
    if path is None or not path.exists():
        return None
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def manifest(files: CheckpointFiles, figures: Figures, standard: set[str]) -> dict[str, Any]:
    """What a figure set is: the checkpoint (its config whole), the analysis artifact's creation date and
    data, the evaluation and training log files' dates, the studio's figure settings, and per figure
    whether it is a standard one or drawn in the session, its title and every setting it was drawn with."""
    from analysis.theme import FIGURE_WIDTH_PX, TEMPLATE_NAME
    from studio.exporting import PNG_SCALE

    unreadable = unreadable_parts(files)
    art = None if "clusters" in unreadable else loaders.artifact(files)
    records = [] if "dynamics" in unreadable else loaders.metrics(files)
    last_step = max((r["step"] for r in records), default=None)
    return {
        "checkpoint": {"name": files.name, "folder": str(files.folder), "config": files.config},
        "artifact": None if art is None else {
            "created": art.manifest.get("created"), "checkpoint_hash": art.manifest.get("checkpoint_hash"),
            "data": art.manifest.get("data"), "max_length": art.manifest.get("max_length"),
        },
        "evaluation": {"results": _modified(files.results), "predictions": _modified(files.predictions)},
        "training": {"metrics": _modified(files.metrics), "last_step": last_step},
        "studio": {"template": TEMPLATE_NAME, "widths_px": FIGURE_WIDTH_PX, "png_scale": PNG_SCALE},
        "unreadable": unreadable,
        "figures": {
            name: {
                "source": "standard" if name in standard else "drawn in the studio",
                "title": drawn.figure.layout.title.text,
                "settings": drawn.settings,
            }
            for name, drawn in figures.items()
        },
    }  # fmt: skip
