"""What one run of an ICLM changes: a forced route, shifted (swapped) routes, a dropped module.

TransformerLens hands hooks to `run_with_hooks`; an ICLM run is handed one `Intervention` value. `forward`
(`intervention=`, or its `force_route=` / `drop_module=` keywords, which build this value) and every readout
of module states (`iclm.readout`) apply it the same way: `route` / `routes` say which domain module an example
reads, `keeps` which modules enter the aggregation. Routes given to a run explicitly (`forward(routes=...)`,
an oracle readout) are final: the intervention's route part changes only the routes the router chooses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

DropModule = Literal["invariant", "domain"]
DROP_MODULES: tuple[str, ...] = ("invariant", "domain")


@dataclass(frozen=True)
class Intervention:
    """force_route: every example reads domain module k (the router does not run); route_shift: each example
    reads domain (router route + shift) mod K, a permutation that never keeps the router's choice when
    shift % K != 0; drop_module: that module's states enter the aggregation as zeros (variant "iclm").
    The default value changes nothing."""

    force_route: int | None = None
    route_shift: int = 0
    drop_module: DropModule | None = None

    def __post_init__(self) -> None:
        if self.drop_module not in (None, *DROP_MODULES):
            raise ValueError(
                f"drop_module={self.drop_module!r} is invalid; choose None or one of {list(DROP_MODULES)}"
            )
        if self.force_route is not None and self.route_shift:
            raise ValueError(
                f"force_route={self.force_route!r} with route_shift={self.route_shift!r} is invalid: "
                "a forced route leaves nothing to shift; give one of them"
            )

    def check(self, config) -> None:
        """Raise ValueError if a model with this `ICLMConfig` cannot take the intervention."""
        k = config.num_domains
        route = self.force_route
        if route is not None and not (isinstance(route, int) and 0 <= route < k):
            raise ValueError(f"force_route={route!r} is invalid; expected an int in [0, {k})")
        if self.drop_module is not None and not config.has_invariant:
            raise ValueError(
                f"drop_module={self.drop_module!r} needs variant='iclm' (got {config.variant!r})"
            )

    @property
    def needs_router(self) -> bool:
        """Whether the run still asks the router (a forced route replaces it)."""
        return self.force_route is None

    def keeps(self, module: DropModule) -> bool:
        """Whether module "invariant" or "domain" enters the run."""
        return self.drop_module != module

    def route(self, route: int, num_domains: int) -> int:
        """The domain module an example reads, given its router route."""
        if self.force_route is not None:
            return self.force_route
        return (route + self.route_shift) % num_domains if self.route_shift else route

    def routes(self, routes: Tensor, num_domains: int) -> Tensor:
        """`route` for every example: the router's routes (B,) -> the routes the run reads (B,)."""
        if self.force_route is not None:
            return routes.new_full(routes.shape, self.force_route)
        return (routes + self.route_shift) % num_domains if self.route_shift else routes


NONE = Intervention()


def from_keywords(
    intervention: Intervention | None, force_route: int | None, drop_module: str | None
) -> Intervention:
    """The one Intervention of `forward`'s keywords: `intervention`, or the value `force_route` /
    `drop_module` build (giving both ways at once is refused, so neither silently wins)."""
    if intervention is None:
        return Intervention(force_route=force_route, drop_module=drop_module)
    if force_route is not None or drop_module is not None:
        raise ValueError(
            "intervention= with force_route= or drop_module= is invalid; put them into the Intervention"
        )
    return intervention
