"""The spine: the problems (one registry, the readers of their files), the MLP family on flat
parameter vectors (networks), the data losses (cross-entropy, squared error) and penalties (L2,
weight elimination) of the objective batched over parameter vectors (loss, gradient,
Hessian-vector products, Hessians), exact Hessians by second-order backpropagation, and the hidden
layers' saturation.

Imports: fla.base.
"""

__all__ = [
    "exact_hessian",
    "losses",
    "networks",
    "objective",
    "problems",
    "readers",
    "registry",
    "regularisers",
    "saturation",
    "symmetries",
]  # its modules; each lists its own
