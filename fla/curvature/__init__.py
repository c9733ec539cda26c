"""Hessian spectra and what they say: curvature classes and Hessian indices (classes), and one
Lanczos serving extreme eigenvalues, top-k, Hutchinson traces and SLQ densities over any batched
Hessian-vector product (lanczos).

Imports: fla.base, fla.core.
"""

__all__ = ["classes", "lanczos", "reduced"]  # its modules; each lists its own
