"""Keras CIFAR models (models), their data (cifar), training (train), the objective over their
weights (objective), their channels aligned up to permutation (alignment) and ``fla connect
--models`` (connect).

Imports: fla.base, fla.core, fla.curvature, fla.paths.
"""

# its modules; each lists its own
__all__ = ["alignment", "cifar", "connect", "models", "objective", "train"]
