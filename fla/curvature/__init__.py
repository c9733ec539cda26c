"""Hessian spectra and what they say: curvature classes and Hessian indices (classes), and one
Lanczos serving extreme eigenvalues, top-k, Hutchinson traces and SLQ densities over any batched
Hessian-vector product (lanczos), the reduced Hessian without the network's symmetries
(reduced), and the sharpness and flatness measures of the generalisation literature (sharpness).

Imports: fla.base, fla.core.
"""

__all__ = ["classes", "lanczos", "reduced", "sharpness"]  # its modules; each lists its own
