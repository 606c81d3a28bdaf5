"""RAVEN progressive matrices generated as WellyZhang/RAVEN does, in the LAR benchmark's evals format.

A puzzle is a 3x3 matrix of panels; panel 9 is missing and must be picked among 8 candidates A-H. Per
component, one Number/Position rule and one rule per attribute (type, size, colour) hold along every row:
``constant``, ``progression`` (+-1, +-2), ``arithmetic`` (size: the levels + 1 add or subtract,
c = a +- (b + 1); colour: c = a +- b, and the second values of rows 1 and 2 are not both 0, RAVEN's
"white alarm"; no arithmetic on type) or ``distribute_three`` (three values rotated between rows). Rule
sampling follows RAVEN's ``sampling.py``/``constraints.py``: each rule uniform in its list, then its
parameter uniform; the rule narrows the range column 1 (and, for arithmetic, column 2) is drawn from, so
values never leave the range and a row never causes a redraw (see `iclm.data.raven_rules`). On
center_single each type rule has probability 1/3 and each size and colour rule 1/4. The angle is noise.

Configurations (``CONFIGS``, RAVEN's seven): ``center_single`` (training) and the o.o.d. ones
``distribute_four``, ``distribute_nine``, ``left_center_single_right_center_single``,
``up_center_single_down_center_single``, ``in_center_single_out_center_single`` and
``in_distribute_four_out_center_single``. The Out component has sizes large-giant and always colour level 0
("red" / "A"), hence a Constant colour rule and only Constant, Progression +-1 or Distribute_Three on size;
In_Distribute_Four has sizes small-giant. Grid layouts (2x2, 3x3, the inner 2x2) hold 1-4 (1-9) entities
under a Number/Position rule (Constant, or Progression, Arithmetic or Distribute_Three on Number or on
Position); Uniformity is True with probability 1/4; when it is False, an attribute under Constant is
per-entity noise and entities created by a Number/Position rule get fresh angles. Entities are listed in
their randomly sampled slot order (RAVEN's XML order). Simplifications: RAVEN redraws the whole rule set
when a rule cannot apply, we redraw that rule only (same distribution: acceptance factorises over rules);
the third panel of an Arithmetic-on-Position row lists its entities in ascending slot order (RAVEN: the
order of a Python set, the same except possibly slot 8 on the 3x3 grid).

Rendering: the benchmark's own templates (``process_data_raven.py``, see `iclm.data.raven_render`), e.g.
text "On an image, a second figure is displayed inside a first one. Outside: a large red square rotated at
0 degrees. Inside: ..." and symbolic "[(D, A, C, D,)] \\n---------------\\n[(B, C, F, G, TL), ...] \\n---...".
The public samples only hold center_single. The o.o.d. prompts are long; SmolLM2 tokens per prompt (median,
max; text / symbolic): center_single 390, 410 / 300; distribute_four 790, 1,080 / 550, 760; distribute_nine
1,370, 2,250 / 960, 1,560; left-right 980, 1,010 / 480; up-down 850, 880 / 530; in-center 800, 830 / 560;
in-distribute-four 1,210, 1,530 / 820, 1,040. So most o.o.d. prompts take 700-1,200 tokens, distribute_nine
up to ~2,250: a context window below that truncates them.

Candidates (``CANDIDATE_MODES``, see `iclm.data.raven_candidates`): ``"iraven"`` (default) builds I-RAVEN's
attribute bisection tree (every value in 4 of the 8 candidates, odd-one-out at chance, exactly one candidate
completes the matrix); ``"benchmark"`` builds them as RAVEN's main.py (answer + 7 one-attribute
distractors), as the public benchmark files do: solvable by odd-one-out without reading the context.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from iclm.data.evals_format import message, record
from iclm.data.raven_candidates import CANDIDATE_MODES, benchmark_candidates, iraven_candidates
from iclm.data.raven_model import (
    ANGLES,
    ATTRIBUTES,
    COLORS,
    LAYOUTS,
    NUM_VALUES,
    RULES,
    SIZES,
    STRUCTURES,
    TYPES,
    Entity,
    Hypothesis,
    Panel,
    fits,
    hypotheses,
    layout_fits,
    layout_hypotheses,
)
from iclm.data.raven_render import panel_string
from iclm.data.raven_rules import ComponentDraw, MPanel, draw_component
from iclm.data.task_spec import TaskSpec

__all__ = [
    "ANGLES",
    "ATTRIBUTES",
    "CANDIDATE_MODES",
    "COLORS",
    "CONFIGS",
    "INSTRUCTION",
    "LAYOUTS",
    "LETTERS",
    "NUM_VALUES",
    "RULES",
    "SIZES",
    "STRUCTURES",
    "TYPES",
    "Entity",
    "Hypothesis",
    "Panel",
    "RavenPuzzle",
    "fits",
    "generate_raven",
    "hypotheses",
    "layout_fits",
    "layout_hypotheses",
    "make_puzzle",
    "render_puzzle",
]

Config = Literal[
    "center_single",
    "distribute_four",
    "distribute_nine",
    "left_center_single_right_center_single",
    "up_center_single_down_center_single",
    "in_center_single_out_center_single",
    "in_distribute_four_out_center_single",
]
Render = Literal["text", "symbolic"]
CONFIGS: tuple[str, ...] = tuple(LAYOUTS)
LETTERS = "ABCDEFGH"
INSTRUCTION = (
    "Find the pattern number 9 that completes the sequence. Pick the letter in front of the correct pattern "
    "that logically follows in the sequence from the answer set. Patterns in the sequence are preceded by a "
    "number from 1 to 8. Patterns in the answer set are preceded by a letter from A to H. Only return the "
    "letter in front of the correct pattern."
)


@dataclass(frozen=True)
class RavenPuzzle:
    config: str
    context: tuple[Panel, ...]  # 8 panels, row-major
    candidates: tuple[Panel, ...]  # 8 panels A-H
    answer: int  # index of the right candidate
    rules: tuple[dict[str, Hypothesis], ...]  # per component: attribute -> (rule, parameter)
    layout_rules: tuple[Hypothesis, ...] = ()  # per component: Number/Position rule, e.g. ("constant", 0)
    uniform: tuple[bool, ...] = ()  # per component: RAVEN's Uniformity (True for single-slot layouts)
    candidate_mode: str = "iraven"


def _freeze(panel: list[MPanel]) -> Panel:
    return tuple(
        Entity(e.type, e.size, e.color, e.angle, k, e.slot) for k, comp in enumerate(panel) for e in comp
    )


def make_puzzle(rng: random.Random, config: Config, candidates: str = "iraven") -> RavenPuzzle:
    """One matrix with candidates of the given mode (``"iraven"`` redraws the rare matrix whose candidates
    cannot be built, see `iclm.data.raven_candidates`; it never happens for single-entity layouts)."""
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {CONFIGS}, got {config!r}")
    if candidates not in CANDIDATE_MODES:
        raise ValueError(f"candidates must be one of {CANDIDATE_MODES}, got {candidates!r}")
    while True:
        comps: list[ComponentDraw] = [draw_component(rng, layout) for layout in LAYOUTS[config]]
        built = (
            benchmark_candidates(rng, comps) if candidates == "benchmark" else iraven_candidates(rng, comps)
        )
        if built is not None:
            break
    panels, answer = built
    context = tuple(_freeze([d.panels[i] for d in comps]) for i in range(8))
    return RavenPuzzle(
        config,
        context,
        tuple(_freeze(p) for p in panels),
        answer,
        tuple(dict(d.rules) for d in comps),
        tuple(d.layout_rule for d in comps),
        tuple(d.uniform for d in comps),
        candidates,
    )


def render_puzzle(puzzle: RavenPuzzle, render: Render) -> dict:
    """One evals record: instruction (system), 8 panels + 8 candidates + "The answer is " (user)."""
    if render not in ("text", "symbolic"):
        raise ValueError(f"render must be 'text' or 'symbolic', got {render!r}")
    labels = [str(i + 1) for i in range(8)] + list(LETTERS)
    panels = list(puzzle.context) + list(puzzle.candidates)
    msgs = [message("system", INSTRUCTION)]
    for label, panel in zip(labels, panels, strict=True):
        msgs.append(message("user", f"{label}. {panel_string(panel, puzzle.config, render)}"))
    msgs.append(message("user", "The answer is "))
    return record(msgs, LETTERS[puzzle.answer], list(LETTERS))


@dataclass(frozen=True, kw_only=True)
class RavenSpec(TaskSpec):
    """A RAVEN file: config (the configuration is the split: center_single trains, the others are o.o.d.);
    candidates: "iraven" (answer sets with no context-free shortcut) or "benchmark" (as the benchmark's)."""

    task = "raven"

    config: str = "center_single"
    candidates: str = "iraven"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.config not in CONFIGS:
            raise ValueError(f"config must be one of {CONFIGS}, got {self.config!r}")
        if self.candidates not in CANDIDATE_MODES:
            raise ValueError(f"candidates must be one of {CANDIDATE_MODES}, got {self.candidates!r}")

    @property
    def dataset(self) -> str:
        """e.g. "raven-symbolic-distribute_four" ("...-benchmark" with the benchmark's answer sets)."""
        suffix = "-benchmark" if self.candidates == "benchmark" else ""  # answer sets with the shortcut
        return f"raven-{self.render}-{self.config}{suffix}"

    @property
    def is_ood(self) -> bool:
        return self.config != "center_single"

    def generate(self) -> list[dict]:
        return generate_raven(
            self.n,
            self.seed,
            self.render,  # type: ignore[arg-type]
            self.config,  # type: ignore[arg-type]
            self.part,
            candidates=self.candidates,
        )


def generate_raven(
    n: int, seed: int, render: Render, config: Config, part: str = "train", candidates: str = "iraven"
) -> list[dict]:
    """`n` evals records of one configuration (text and symbolic of the same seed hold the same puzzles)."""
    if candidates not in CANDIDATE_MODES:
        raise ValueError(f"candidates must be one of {CANDIDATE_MODES}, got {candidates!r}")
    rng = random.Random(f"raven|{seed}|{config}|{part}")
    return [render_puzzle(make_puzzle(rng, config, candidates), render) for _ in range(n)]
