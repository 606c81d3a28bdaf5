"""analysis.palette: one colour per name everywhere, colour-blind-safe sets, no collisions in a figure."""

from __future__ import annotations

import pytest

from analysis.palette import (
    CATEGORY_COLORS,
    GREYS,
    LOSS_TERM_COLORS,
    MODULE_COLORS,
    OKABE_ITO,
    RUN_COLORS,
    TOL_EXTRA,
    TOL_MUTED,
    category_colors,
    fixed_color,
    module_color,
    run_colors,
)

SAFE = set(OKABE_ITO) | set(TOL_MUTED) | set(TOL_EXTRA) | set(GREYS)
K = 8


def _distinct(colors) -> bool:
    colors = list(colors)
    return len(set(colors)) == len(colors)


def test_every_colour_comes_from_the_colour_blind_safe_schemes():
    fixed = [*MODULE_COLORS.values(), *LOSS_TERM_COLORS.values(), *RUN_COLORS, *CATEGORY_COLORS]
    names = [
        "none",
        "drop_invariant",
        "drop_domain",
        "swap_+1",
        "swap_+2",
        "iid",
        "ood",
        "correct",
        "incorrect",
    ]
    assert set(fixed) | {module_color(n) for n in names} <= SAFE


def test_accuracy_bars_of_a_k8_model_beside_other_runs_do_not_collide():
    """Overview bars: every readout of the selected model and each other run's model at once."""
    readouts = ["invariant", *(f"domain_{k}" for k in range(K)), "oracle"]
    runs = run_colors({"iclm-k2": "iclm", "no-invariant-k2": "no_invariant", "baseline": "baseline"} | {
        f"run{i}": "iclm" for i in range(4)
    })  # fmt: skip
    assert _distinct([module_color(r) for r in readouts] + list(runs.values()))


def test_interventions_of_a_k8_model_do_not_collide():
    """force_route_1 and swap_+1 shared one orange."""
    names = ["none", *(f"force_route_{k}" for k in range(K)), "drop_invariant", "drop_domain"]
    names += ["swap_+1", "swap_+2", "swap_+3"]
    assert _distinct(module_color(n) for n in names)
    assert module_color("force_route_3") == MODULE_COLORS["domain_3"]  # forced to domain 3: its colour


def test_loss_terms_do_not_collide_and_take_their_modules_colours():
    """domain_lm, invariant_lm and mi shared one pink."""
    assert _distinct(LOSS_TERM_COLORS.values())
    assert LOSS_TERM_COLORS["invariant_lm"] == MODULE_COLORS["invariant"]
    assert LOSS_TERM_COLORS["lm"] == MODULE_COLORS["aggregated"]


def test_clusters_take_their_domain_modules_colours():
    assert fixed_color("cluster 1") == MODULE_COLORS["domain_1"]
    assert _distinct([*(fixed_color(f"cluster {k}") for k in range(K)), fixed_color("your prompt")])


def test_datasets_keep_their_colour_under_a_filter_and_twelve_do_not_collide():
    every = [f"dataset-{i}" for i in range(12)]
    full = category_colors(every)
    assert _distinct(full.values())
    assert category_colors(every[5:7], universe=every) == {d: full[d] for d in every[5:7]}


def test_a_run_keeps_its_colour_whichever_is_selected():
    known = {"iclm-k2": "iclm", "no-invariant-k2": "no_invariant", "baseline": "baseline"}
    assert run_colors(known) == run_colors(dict(reversed(known.items())))
    assert run_colors(known)["baseline"] == MODULE_COLORS["baseline"]


@pytest.mark.parametrize("split", ["iid", "ood"])
def test_a_split_has_its_colour_shown_alone_or_together(split):
    assert category_colors([split])[split] == category_colors(["iid", "ood"])[split] == fixed_color(split)
