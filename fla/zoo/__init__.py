"""Keras CIFAR models (models), their data (cifar), training (train), the objective over their
weights (objective) and ``fla connect --models`` (connect).

Imports: fla.base, fla.core, fla.curvature, fla.paths.
"""

__all__ = ["cifar", "connect", "models", "objective", "train"]  # its modules; each lists its own
