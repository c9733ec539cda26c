"""Paths between minima: the batched energy and the path record (record), the band's geometry and
its compiled relaxation (band, relax), NEB and AutoNEB (neb), Garipov et al.'s curves (curves),
the methods by name (methods), minima polished and merged (minima), Draxler et al.'s exploration
(explore), minima aligned up to permutation and sign (alignment), ``fla connect`` and its outputs
(connect, outputs), analytic test surfaces (surfaces).

Imports: fla.base, fla.core, fla.curvature.
"""

__all__ = [
    "alignment",
    "band",
    "connect",
    "curves",
    "explore",
    "methods",
    "minima",
    "neb",
    "outputs",
    "record",
    "relax",
    "search",
    "surfaces",
]  # its modules; each lists its own
