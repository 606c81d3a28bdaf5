"""Readouts: every way to read next-token logits out of an ICLM's module states, in one vocabulary.

A readout reads the invariant module and/or one domain module (the router's route as its intervention changes
it, or the oracle route given per example) and turns their last hidden states into logits. Names:
- "model": the model's own output (`ICLMOutput.logits`): the aggregation of the invariant and the routed
  domain module (iclm), the routed domain module through the LM head (no_invariant, baseline);
- "invariant": the invariant module alone through the LM head (`invariant_logits`; iclm only);
- "domain": the routed domain module alone (`domain_logits`);
- "domain_k": domain module k alone, every example forced to it (`force_route=k`);
- "model_domain_k": the model's output with every example forced to domain k;
- "oracle": the model's output with a perfect router (routes given per example; see
  `iclm.evaluation.scoring.oracle_map`).

`readout_logits` is the one function from module states to logits: `forward`, the evaluation's fast path,
analysis collection, attribution and the studio's per-module predictions all call it, so a change to the
aggregation or a new module is made here once. Saved analysis artifacts and the studio show readout "model" as
"aggregated" (`label`): examples.parquet's `pred_aggregated`, attribution frames, the studio's colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from torch import Tensor

from iclm.interventions import DropModule, Intervention

Field = Literal["logits", "invariant_logits", "domain_logits"]
FIELDS: tuple[str, ...] = ("logits", "invariant_logits", "domain_logits")  # the ICLMOutput logits fields
NO_ROUTE = -1  # an example without an oracle route (its domain has no module)


@dataclass(frozen=True)
class Readout:
    """A readout: its `name`, the `ICLMOutput` field it reads, whether it takes the oracle route, and the
    intervention of its run (force_route, route_shift, drop_module; see `iclm.interventions`)."""

    name: str
    field: Field
    force_route: int | None = None
    oracle: bool = False
    drop_module: DropModule | None = None
    route_shift: int = 0

    @cached_property
    def intervention(self) -> Intervention:
        """The run this readout reads (the value `forward(intervention=...)` takes)."""
        return Intervention(self.force_route, self.route_shift, self.drop_module)

    @classmethod
    def under(cls, name: str, field: Field, intervention: Intervention, oracle: bool = False) -> Readout:
        """The readout of `field` in a run with `intervention`."""
        iv = intervention
        return cls(name, field, iv.force_route, oracle, iv.drop_module, iv.route_shift)


MODEL = Readout("model", "logits")
INVARIANT = Readout("invariant", "invariant_logits")
DOMAIN = Readout("domain", "domain_logits")
ORACLE = Readout("oracle", "logits", oracle=True)
FIELD_READOUTS = {"logits": MODEL, "invariant_logits": INVARIANT, "domain_logits": DOMAIN}


def forced_domain(k: int) -> Readout:
    """ "domain_k": domain module k alone, every example forced to it."""
    return Readout(f"domain_{k}", "domain_logits", force_route=k)


def forced_model(k: int) -> Readout:
    """ "model_domain_k": the model's output with every example forced to domain k."""
    return Readout(f"model_domain_{k}", "logits", force_route=k)


def readouts(config) -> list[Readout]:
    """The evaluation's readouts of a model with this `ICLMConfig`: model, invariant (iclm), each domain_k and
    oracle (routed variants; oracle only with training dataset names)."""
    found = [MODEL]
    if config.has_invariant:
        found.append(INVARIANT)
    if config.has_router:
        found += [forced_domain(k) for k in range(config.num_domains)]
        if config.dataset_names:
            found.append(ORACLE)
    return found


def available(config) -> list[Readout]:
    """Every readout a model with this config can give (model_domain_k only where it is not domain_k)."""
    found = [MODEL, *([INVARIANT] if config.has_invariant else []), DOMAIN]
    found += [forced_domain(k) for k in range(config.num_domains)]
    if config.has_invariant:
        found += [forced_model(k) for k in range(config.num_domains)]
    return [*found, ORACLE]


def named(config, name: str) -> Readout:
    """The readout called `name`; ValueError listing the valid names otherwise."""
    found = {r.name: r for r in available(config)}
    if name not in found:
        raise ValueError(f"readout {name!r} is invalid; choose one of {list(found)}")
    return found[name]


def read_route(config, readout: Readout, route: int, oracle: int = NO_ROUTE) -> int:
    """The domain module `readout` reads for an example with router route `route` and oracle route
    `oracle`: the oracle's (given routes are final), else the router's as the intervention changes it."""
    return oracle if readout.oracle else readout.intervention.route(route, config.num_domains)


def modules_read(
    config, readout: Readout, route: int, oracle: int = NO_ROUTE
) -> tuple[str | None, str | None]:
    """(invariant module or None, domain module or None) whose states `readout` reads for one example."""
    intervention = readout.intervention
    invariant = None
    if config.has_invariant and readout.field != "domain_logits" and intervention.keeps("invariant"):
        invariant = "invariant"
    domain = None
    if readout.field != "invariant_logits" and intervention.keeps("domain"):
        domain = f"domain_{read_route(config, readout, route, oracle)}"
    return invariant, domain


def readout_logits(model, field: Field, invariant: Tensor | None, domain: Tensor | None) -> Tensor | None:
    """Logits (..., V) of output `field` from the module states (..., H) it reads (None: not run or dropped).

    "invariant_logits" / "domain_logits": that module through the LM head (None without its states).
    "logits": the aggregation for a model with an invariant module, where a dropped module contributes
    zeros: the aggregation is linear in each half of the concat, so zeros remove exactly that module's
    additive contribution while the surviving module's path is unchanged (a mean ablation would need dataset
    statistics the model does not have); without an invariant module, the domain module's logits.
    """
    head = model.base.get_output_embeddings()
    if field == "invariant_logits":
        return None if invariant is None else head(invariant)
    if field == "domain_logits" or not model.config.has_invariant:
        return None if domain is None else head(domain)
    inv = invariant if invariant is not None else torch.zeros_like(domain)
    dom = domain if domain is not None else torch.zeros_like(invariant)
    return model.aggregate(inv, dom)


def output_logits(model, invariant: Tensor | None, domain: Tensor | None) -> dict[str, Tensor | None]:
    """Every `ICLMOutput` logits field {field: (..., V) or None} from one run's module states (..., H), each
    module through the LM head once (without an invariant module "logits" is the "domain_logits" tensor)."""
    domain_logits = readout_logits(model, "domain_logits", invariant, domain)
    if not model.config.has_invariant:
        return {"logits": domain_logits, "invariant_logits": None, "domain_logits": domain_logits}
    return {
        "logits": readout_logits(model, "logits", invariant, domain),
        "invariant_logits": readout_logits(model, "invariant_logits", invariant, domain),
        "domain_logits": domain_logits,
    }


def label(name: str) -> str:
    """The name saved artifacts and the studio show for readout `name` ("model" -> "aggregated",
    "model_domain_k" -> "aggregated_domain_k"; others unchanged)."""
    return "aggregated" + name.removeprefix("model") if name.startswith("model") else name


def from_label(shown: str) -> str:
    """The readout name of a label `label` gives (the inverse of `label`)."""
    return "model" + shown.removeprefix("aggregated") if shown.startswith("aggregated") else shown
