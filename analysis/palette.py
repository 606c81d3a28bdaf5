"""One palette: every module, readout, loss term, split, intervention, run and dataset has ONE colour,
the same on every page, in every export and in the figure set.

Colours come from two schemes designed for the common colour-vision deficiencies, Okabe & Ito (2008) and
Paul Tol's "muted" (tol 2021), and each kind draws from a set chosen so that what one figure shows at once
never shares a colour:

- modules and readouts (`MODULE_COLORS`): invariant black, domain_k the Okabe-Ito order (then two Tol
  colours for domain_6/7), aggregated vermillion, oracle indigo, the routed "domain" olive, baseline grey;
  cluster k is drawn in domain_k's colour, since the router sends cluster k to domain module k;
- loss terms (`LOSS_TERM_COLORS`): each term in the colour of the module it trains (lm = the model's
  output = aggregated, invariant_lm = invariant, domain_lm = the routed domain), mi and routing their own;
- interventions: none black, force_route_k in domain_k's colour (it sends everything there), drop and
  swap in Tol colours no module uses;
- runs (checkpoints): a baseline-variant run in the baseline grey, every other run a Tol colour no module
  uses, by its place among ALL the runs known (sorted names), so a run keeps its colour whichever is selected;
- datasets, and any other category: `CATEGORY_COLORS` by the value's place among all values of that
  category in the data (not among those a filter left), so filtering never recolours what stays.

Chance and majority marks are dark grey shades told apart by width (`analysis.theme.REFERENCE_STYLES`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

#: Okabe & Ito (2008), "Color Universal Design", in their published order.
OKABE_ITO: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
)
#: Paul Tol's "muted" scheme.
TOL_MUTED: tuple[str, ...] = (
    "#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
)  # fmt: skip

#: Two more of Paul Tol's colours (his "medium contrast" blue and the brown of his 12-colour scheme).
TOL_EXTRA: tuple[str, ...] = ("#6699CC", "#661100")
GREYS: tuple[str, ...] = ("#888888", "#555555")

MODULE_COLORS: dict[str, str] = {
    "invariant": "#000000",
    "domain_0": "#E69F00",
    "domain_1": "#56B4E9",
    "domain_2": "#009E73",
    "domain_3": "#F0E442",
    "domain_4": "#0072B2",
    "domain_5": "#CC79A7",
    "domain_6": "#882255",
    "domain_7": "#44AA99",
    "aggregated": "#D55E00",
    "oracle": "#332288",
    "domain": "#999933",
    "baseline": "#888888",
}
LOSS_TERM_COLORS: dict[str, str] = {
    "lm": MODULE_COLORS["aggregated"],
    "invariant_lm": MODULE_COLORS["invariant"],
    "domain_lm": MODULE_COLORS["domain"],
    "mi": "#CC6677",
    "routing": "#117733",
}
SPLIT_COLORS: dict[str, str] = {"iid": "#0072B2", "ood": "#D55E00", "i.i.d.": "#0072B2", "o.o.d.": "#D55E00"}
CORRECTNESS_COLORS: dict[str, str] = {"correct": "#009E73", "incorrect": "#D55E00"}
#: Interventions that are not a forced route (force_route_k takes domain_k's colour).
INTERVENTION_COLORS: dict[str, str] = {
    "none": "#000000",
    "drop_invariant": "#CC6677",
    "drop_domain": "#117733",
}
SWAP_COLORS: tuple[str, ...] = ("#AA4499", "#DDCC77", "#661100", "#6699CC")
#: Runs that are not baselines, by their place among all known runs (no module uses these).
RUN_COLORS: tuple[str, ...] = ("#CC6677", "#117733", "#AA4499", "#DDCC77", "#661100", "#6699CC", "#88CCEE")
#: Datasets and other categories (the 12 colours of the two schemes that read on white).
CATEGORY_COLORS: tuple[str, ...] = (
    "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7",
    "#882255", "#44AA99", "#999933", "#332288", "#CC6677", "#117733",
)  # fmt: skip
#: Labels pages add to a category ("your prompt" among the clusters of the custom-prompt map).
LABEL_COLORS: dict[str, str] = {"your prompt": "#000000"}
UNKNOWN = "#888888"

_DOMAIN = re.compile(r"^(?:domain_|cluster |force_route_|aggregated_domain_)(\d+)$")
_SWAP = re.compile(r"^swap_([+-]\d+)$")


def fixed_color(name: str) -> str | None:
    """The fixed colour of a module, readout, cluster, loss term, split, outcome or intervention name;
    None for names of free categories (datasets, runs)."""
    tables = (
        MODULE_COLORS,
        LOSS_TERM_COLORS,
        SPLIT_COLORS,
        CORRECTNESS_COLORS,
        INTERVENTION_COLORS,
        LABEL_COLORS,
    )
    for table in tables:
        if name in table:
            return table[name]
    if match := _DOMAIN.match(name):
        k = int(match.group(1))
        return MODULE_COLORS.get(f"domain_{k}", CATEGORY_COLORS[k % len(CATEGORY_COLORS)])
    if match := _SWAP.match(name):
        return SWAP_COLORS[(abs(int(match.group(1))) - 1) % len(SWAP_COLORS)]
    return None


def module_color(name: str) -> str:
    """The colour of a fixed name (see `fixed_color`); other names grey."""
    return fixed_color(name) or UNKNOWN


def _natural(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def category_colors(shown: Iterable[str], universe: Sequence[str] | None = None) -> dict[str, str]:
    """Colour per shown value: its fixed colour when it has one, else `CATEGORY_COLORS` by its place in
    the sorted `universe` (every value of that category in the data; default: the shown ones)."""
    shown = list(dict.fromkeys(str(s) for s in shown))
    free = sorted({str(u) for u in (universe if universe is not None else shown)} | set(shown), key=_natural)
    free = [u for u in free if fixed_color(u) is None]
    return {s: fixed_color(s) or CATEGORY_COLORS[free.index(s) % len(CATEGORY_COLORS)] for s in shown}


def run_colors(variants: Mapping[str, str]) -> dict[str, str]:
    """Colour per run {name: variant} of ALL known runs: baseline-variant runs grey, others `RUN_COLORS` in
    sorted-name order (pass every discovered checkpoint, not only the drawn ones, so colours stay put)."""
    others = sorted((name for name, v in variants.items() if v != "baseline"), key=_natural)
    return {
        name: MODULE_COLORS["baseline"]
        if v == "baseline"
        else RUN_COLORS[others.index(name) % len(RUN_COLORS)]
        for name, v in variants.items()
    }
