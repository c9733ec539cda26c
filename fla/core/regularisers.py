"""Penalties on the parameters, added to the data loss: the objective a walk follows is their sum.

Over every parameter theta_i, weights and biases alike (as the flat vector holds them):

- ``l2``: lambda sum_i theta_i^2 (Mehta, Zhao, Bernal and Wales 2018, Eq. 3);
- ``weight_elimination``: lambda sum_i (theta_i^2 / w0^2) / (1 + theta_i^2 / w0^2) (Weigend,
  Rumelhart and Huberman 1991; the landscapes of Bosman, Engelbrecht and Helbig, "Fitness landscape
  analysis of weight-elimination neural networks", Neural Processing Letters 2018). With
  u_i = theta_i^2 / w0^2 its gradient is lambda (2 theta_i / w0^2) / (1 + u_i)^2 and its Hessian is
  diagonal, lambda (2 / w0^2) (1 - 3 u_i) / (1 + u_i)^3: a weight much smaller than w0 is pushed
  towards zero as by L2 with lambda / w0^2; one much larger costs about lambda whatever its size.

    >>> Regulariser("weight_elimination", 1e-3, w0=1.0).key
    ('weight_elimination', 0.001, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REGULARISERS = ("none", "l2", "weight_elimination")


@dataclass(frozen=True)
class Regulariser:
    """A penalty: its ``kind`` (``REGULARISERS``), its weight ``lam`` >= 0 and, for weight
    elimination, its scale ``w0`` > 0."""

    kind: str = "none"
    lam: float = 0.0
    w0: float = 1.0

    def __post_init__(self):
        if self.kind not in REGULARISERS:
            raise ValueError(
                f"regulariser must be one of {', '.join(REGULARISERS)}, got {self.kind!r}"
            )
        if not (isinstance(self.lam, (int, float)) and np.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lambda must be a finite number >= 0, got {self.lam!r}")
        if not (isinstance(self.w0, (int, float)) and np.isfinite(self.w0) and self.w0 > 0):
            raise ValueError(f"w0 must be a finite number > 0, got {self.w0!r}")

    @property
    def active(self) -> bool:
        """Whether the penalty adds anything (a kind other than ``none`` and lambda > 0)."""
        return self.kind != "none" and self.lam > 0

    @property
    def key(self) -> tuple:
        """What a compiled program depends on."""
        if not self.active:
            return ("none",)
        return (self.kind, float(self.lam)) + ((float(self.w0),) * (self.kind != "l2"))

    def terms(self, theta):
        """The penalty's terms before the factor lambda: theta^2 (L2) or u / (1 + u), u = theta^2 /
        w0^2 (weight elimination).

        Args:
            theta: parameters, any shape.

        Returns:
            The terms, elementwise, of theta's shape.
        """
        if self.kind == "l2":
            return theta * theta
        u = theta * theta / (self.w0 * self.w0)
        return u / (1.0 + u)

    def hessian_diagonal(self, theta):
        """The penalty's Hessian, which is diagonal: 2 lambda (L2), or lambda (2 / w0^2) (1 - 3 u) /
        (1 + u)^3 (weight elimination).

        Args:
            theta: [B, D] parameters.

        Returns:
            [B, D] the diagonal, elementwise.
        """
        import tensorflow as tf

        if self.kind == "l2":
            return 2.0 * self.lam * tf.ones_like(theta)
        u = theta * theta / (self.w0 * self.w0)
        return self.lam * (2.0 / (self.w0 * self.w0)) * (1.0 - 3.0 * u) / (1.0 + u) ** 3


NO_PENALTY = Regulariser()
