"""What a checkpoint's variant has, asked once for every page: a router, an invariant module, MI.

A page shows "not applicable" with the reason for what the variant lacks instead of drawing zeros (a
baseline's NMI 0.000, a one-row contingency map, flat zero loss lines for modules it does not have).
The answers come from the engine's checkpoint-format rules (`iclm.checkpoint_format.variant_has_router` /
`variant_has_invariant`, torch-free).
"""

from __future__ import annotations

from studio.checkpoints import CheckpointFiles

NO_ROUTER = (
    "Not applicable: the {variant} variant has no router (every example goes to its single module), so "
    "there are no clusters, routes or codebook to show."
)
NO_INVARIANT = (
    "Not applicable: the {variant} variant has no invariant module, so invariant-vs-domain similarity and "
    "mutual information do not exist for it."
)


def variant(files: CheckpointFiles) -> str:
    return str(files.config.get("variant", ""))


def has_router(files: CheckpointFiles) -> bool:
    from iclm.checkpoint_format import variant_has_router

    return variant_has_router(variant(files))


def has_invariant(files: CheckpointFiles) -> bool:
    from iclm.checkpoint_format import variant_has_invariant

    return variant_has_invariant(variant(files))


def no_router(files: CheckpointFiles) -> str:
    return NO_ROUTER.format(variant=variant(files) or "this")


def no_invariant(files: CheckpointFiles) -> str:
    return NO_INVARIANT.format(variant=variant(files) or "this")


#: Loss terms by what they need (the zero branches of `ICLMForCausalLM`'s losses): a variant without the
#: module logs them as 0.0, which is "not applicable", not a loss of zero.
INVARIANT_TERMS = ("invariant_lm", "domain_lm", "mi")
ROUTER_TERMS = ("routing",)


def missing_terms(files: CheckpointFiles) -> tuple[str, ...]:
    """The loss terms this checkpoint's variant does not have."""
    return (() if has_invariant(files) else INVARIANT_TERMS) + (() if has_router(files) else ROUTER_TERMS)


#: Training-dynamics columns (studio.tables.DYNAMICS_GROUPS) that read a router: a variant without one logs
#: every example on domain_0 (fraction 1.0), a constant that is "not applicable", not a routing result.
ROUTER_DYNAMICS = ("probe_routing_fraction", "routing_fraction", "router_nmi", "router_purity",
                   "codebook_perplexity")  # fmt: skip


def missing_dynamics(files: CheckpointFiles) -> tuple[str, ...]:
    """The training-dynamics columns this checkpoint's variant does not have."""
    return () if has_router(files) else ROUTER_DYNAMICS


def known_runs(files: CheckpointFiles) -> dict[str, str]:
    """{checkpoint name: variant} of every listed checkpoint plus the selected one: the runs whose colours
    `analysis.palette.run_colors` fixes (listed ones read through the cached loader)."""
    from studio import loaders
    from studio.checkpoints import CheckpointError, discover

    runs = {}
    for folder in discover():
        try:
            runs[folder.name] = variant(loaders.inspect_checkpoint(str(folder)))
        except CheckpointError:
            continue  # a broken listed folder has no colour to keep
    return runs | {files.name: variant(files)}
