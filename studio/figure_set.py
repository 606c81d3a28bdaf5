"""The checkpoint's standard figures, built from its files alone (no model), for "Export figure set".

The set holds the accuracy bars (both scorings, with the other checkpoints as baselines), the PCA map
of router embeddings coloured by cluster and by dataset, the cluster/dataset contingency, the module
similarity heatmap, and the default training-dynamics curves; figures the user drew in this session
(other settings, attributions, interventions) are added by the widget.
"""

from __future__ import annotations

import logging

import pandas as pd
import plotly.graph_objects as go

from studio import figure_loaders, loaders, tables, variant
from studio.checkpoints import CheckpointFiles, discover

logger = logging.getLogger(__name__)
Figures = dict[str, tuple[go.Figure, pd.DataFrame]]


def _accuracy(files: CheckpointFiles, out: Figures) -> None:
    from analysis.accuracy import dataset_accuracy, dataset_baselines, split_accuracy, split_baselines
    from analysis.accuracy_figures import accuracy_bars, references_frame
    from analysis.palette import run_colors

    results = figure_loaders.results(files)
    if results is None:
        return
    named, colors = [(files.name, results)], run_colors(variant.known_runs(files))
    for folder in discover():
        if folder.resolve() != files.folder.resolve() and (folder / "eval/results.json").is_file():
            other = loaders.inspect_checkpoint(str(folder))
            named.append((other.name, figure_loaders.results(other)))
    baselines = dataset_baselines(results)
    for method in ("choice", "greedy"):
        rows = split_accuracy(named, method)
        if not rows.empty:
            marks = references_frame(split_baselines(baselines), "split", tables.SPLIT_LABELS)
            bars = tables.bar_rows(rows, files.name)
            item = accuracy_bars(bars, marks, title=f"Accuracy ({method})", colors=colors)
            out[f"accuracy_{method}"] = (item.figure, item.data)
        per_dataset = dataset_accuracy(files.name, results, method)
        if not per_dataset.empty:
            item = accuracy_bars(
                tables.bar_rows(per_dataset, files.name), references_frame(baselines, "dataset"),
                category="dataset", title=f"Accuracy per dataset ({method})", size="two_column",
                colors=colors,
            )  # fmt: skip
            out[f"accuracy_by_dataset_{method}"] = (item.figure, item.data)


def _clusters(files: CheckpointFiles, out: Figures) -> None:
    from analysis.clusters import contingency_table
    from analysis.figures import contingency_heatmap, projection_scatter, similarity_heatmap
    from analysis.similarity import similarity_matrix

    art = loaders.artifact(files)
    if art is None:
        return
    examples = art.examples
    proj = loaders.projection(files, "router_projected", "pca")
    for color_by, values in (("cluster", examples["route"]), ("dataset", examples["dataset"])):
        item = projection_scatter(
            proj.coords, examples["id"].to_numpy(), values.to_numpy(), color_by=color_by
        )
        out[f"projection_pca_router_projected_{color_by}"] = (item.figure, item.data)
    item = contingency_heatmap(
        contingency_table(examples["route"].to_numpy(), examples["dataset"].to_numpy())
    )
    out["contingency"] = (item.figure, item.data)
    states, _ = loaders.module_states(files, "forced")
    if len(states) >= 2 and len(next(iter(states.values()))) >= 4:
        item = similarity_heatmap(similarity_matrix(states, "cka"), metric="Linear CKA")
        out["similarity_cka"] = (item.figure, item.data)


def _dynamics(files: CheckpointFiles, out: Figures) -> None:
    from analysis.figures import metric_lines

    frame, _ = tables.training_records(loaders.metrics(files))
    for column in tables.DEFAULT_DYNAMICS:
        history = tables.metric_history({files.name: frame}, column)
        if not history.empty:
            item = metric_lines(history, column)
            out[f"dynamics_{column}"] = (item.figure, item.data)


def standard_figures(files: CheckpointFiles) -> Figures:
    """Every standard figure this checkpoint's files allow (parts it lacks are left out)."""
    out: Figures = {}
    for build in (_accuracy, _clusters, _dynamics):
        build(files, out)
    return out
