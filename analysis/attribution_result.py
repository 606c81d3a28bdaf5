"""What a token attribution returns: the explained quantity per readout and the tidy score table.

Integrated gradients' attributions should sum to f(x) - f(baseline) (completeness). The error `delta` is
judged RELATIVE to that explained value: 4.5 nats of error mean nothing against a log-prob gap of 100 and
everything against one of 0.2. Above `COMPLETENESS_TOLERANCE` (5%) the scores are not a faithful
decomposition of f; `AttributionResult.advice` says what to change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

COMPLETENESS_TOLERANCE = 0.05  # |delta| / |f(x) - f(baseline)| above this is flagged
NEGLIGIBLE = 0.5  # nats: an explained value this small (a factor 1.6 in probability) has little to explain


class CompletenessWarning(UserWarning):
    """Integrated gradients' attributions do not sum to f(x) - f(baseline) within the tolerance."""


@dataclass(frozen=True)
class ModuleTarget:
    """The explained quantity of one readout: f(x) = `logprob` (log p(answer), or log p(answer) -
    log p(contrast)); for integrated gradients also f(baseline) and `delta` = sum of attributions -
    (f(x) - f(baseline)), the completeness error."""

    module: str
    route: int | None
    token_ids: tuple[int, ...]
    token: str
    logprob: float
    contrast_ids: tuple[int, ...] | None = None
    contrast_token: str | None = None
    baseline_logprob: float | None = None
    delta: float | None = None

    @property
    def explained(self) -> float | None:
        """f(x) - f(baseline): what integrated gradients' attributions should sum to."""
        return None if self.baseline_logprob is None else self.logprob - self.baseline_logprob

    @property
    def relative_delta(self) -> float | None:
        """|delta| as a share of |f(x) - f(baseline)| (inf when that is 0 and delta is not)."""
        if self.delta is None or self.explained is None:
            return None
        if self.explained == 0:
            return 0.0 if self.delta == 0 else math.inf
        return abs(self.delta) / abs(self.explained)


@dataclass(frozen=True)
class AttributionResult:
    """frame: tidy (token_index, token, word, module, method, score) table, one row per prompt token and
    module; targets: readout name -> ModuleTarget; tokens: the prompt's token texts; position: the token
    after which the answer is read; quantity: what f is ("log p( Paris)"); n_steps: IG's steps; baseline:
    the baseline of IG and word ablation."""

    method: str
    tokens: tuple[str, ...]
    position: int
    route: int
    targets: dict[str, ModuleTarget]
    frame: pd.DataFrame
    quantity: str = ""
    n_steps: int | None = None
    baseline: str | None = None

    def flagged(self, tolerance: float = COMPLETENESS_TOLERANCE) -> dict[str, float]:
        """{readout: relative completeness error} of the readouts above `tolerance` (IG only)."""
        found = {m: t.relative_delta for m, t in self.targets.items() if t.relative_delta is not None}
        return {m: r for m, r in found.items() if r > tolerance}

    def advice(self, tolerance: float = COMPLETENESS_TOLERANCE) -> str | None:
        """What to do when the completeness error is too large (None when it is within `tolerance`).

        A readout whose explained value is tiny (|f(x) - f(baseline)| < `NEGLIGIBLE` nats: the baseline
        scores the answer almost as the input does) is named apart: its relative error is large even when
        the absolute one is as small as the others', and more steps will not make its scores mean much."""
        flagged = self.flagged(tolerance)
        if not flagged:
            return None
        small = {m: r for m, r in flagged.items() if abs(self.targets[m].explained or 0.0) < NEGLIGIBLE}
        real = {m: r for m, r in flagged.items() if m not in small}
        parts = []
        if real:
            more = suggested_steps(self.n_steps or 1, max(real.values()), tolerance)
            names = ", ".join(f"{m} {100 * r:.0f}%" for m, r in real.items())
            parts.append(
                f"Integrated gradients' attributions miss f(x) - f(baseline) by more than "
                f"{100 * tolerance:.0f}% ({names}; {self.n_steps} steps): the scores are not a faithful "
                f"decomposition. Raise the steps (try {more}), use the 'scaled' baseline (it converges "
                "fastest; a zero baseline crosses RMSNorm's kink at 0), or use gradient x input for a "
                "quick look."
            )
        if small:
            found = [(m, self.targets[m]) for m in small]
            names = ", ".join(
                f"{m} (f(x) - f(baseline) = {t.explained:.3f}, error {t.delta:.3f})" for m, t in found
            )
            parts.append(
                f"For {names} the baseline already scores the answer almost as the input does (under "
                f"{NEGLIGIBLE} nats apart), so the relative completeness error is large although the "
                "absolute one is small: these scores explain next to nothing; read the other readouts or "
                "explain an answer these readouts do change."
            )
        return " ".join(parts)


def suggested_steps(steps: int, error: float, tolerance: float = COMPLETENESS_TOLERANCE) -> int:
    """Steps that should bring `error` (at `steps`) under `tolerance`, assuming error ~ 1/steps, rounded up
    to a power of two."""
    if not math.isfinite(error):
        return 4 * steps
    wanted = steps * error / tolerance
    return 2 ** max(0, math.ceil(math.log2(max(wanted, 1.0))))
