"""Sampling by walks: the counter-based streams keyed by (seed, walk, step), the compiled walk
program, curvature measured beside the walk, settings and plans, resource estimates, and one
configuration -> one verified run (sample), and copies of a run's walks spawned from their own
points (spawn).

Imports: fla.base, fla.core, fla.curvature.
"""

__all__ = [
    "batches",
    "config",
    "measure",
    "program",
    "records",
    "resources",
    "rule",
    "sample",
    "samplers",
    "spawn",
    "streams",
]  # its modules; each lists its own
