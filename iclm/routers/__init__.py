"""The router kinds, by the name `router.kind` gives in a config. A new kind: one file, one line here."""

from __future__ import annotations

from iclm.routers.base import RouterKind
from iclm.routers.kmeans import KMeansKind
from iclm.routers.oracle import OracleKind
from iclm.routers.vq import VQKind

ROUTER_KINDS: dict[str, type[RouterKind]] = {
    "vq": VQKind,
    "kmeans": KMeansKind,
    "oracle": OracleKind,
}


def router_kind(name: object) -> type[RouterKind]:
    """The `RouterKind` class registered as `name`; ValueError listing the valid names otherwise."""
    from iclm.validation import check_registered

    check_registered("router.kind", name, ROUTER_KINDS)
    return ROUTER_KINDS[name]


__all__ = ["ROUTER_KINDS", "KMeansKind", "OracleKind", "RouterKind", "VQKind", "router_kind"]
