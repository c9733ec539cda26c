"""The spine: the problems (one registry, the readers of their files), the MLP family on flat
parameter vectors (networks), the objective batched over parameter vectors (loss, gradient,
Hessian-vector products, Hessians), and exact Hessians by second-order backpropagation.

Imports: fla.base.
"""
