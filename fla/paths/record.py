"""Paths between minima: the batched energy every path method evaluates and the path record every
method returns.

A path method is a frozen dataclass with a ``name`` and ``connect(energy, a, b) -> PathRecord``;
its fields are its settings, declared with ``fla.base.settings.setting`` and checked by
``check_method``. ``fla.paths.methods`` builds one by name.

    >>> path = NEB().connect(Energy(loss), a, b)
    >>> path.saddle_loss, path.barrier, path.length, path.dense_losses
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from fla.base.settings import check


class Energy:
    """A batched loss as path methods need it: values [B] and gradients [B, D] of points [B, D],
    numpy out.

    ``loss`` is an ``fla.core.objective.Objective`` (its training loss), a
    ``fla.zoo.objective.KerasObjective``, or any TensorFlow function of a [B, D] float tensor
    returning [B] losses (``fn``, which compiled path programs call directly). ``evaluations``
    counts points evaluated, ``calls`` batched calls.
    """

    def __init__(self, loss, dtype=None, chunk: int = 4096):
        """The loss, compiled as path methods call it.

        Args:
            loss: an ``fla.core.objective.Objective``, a ``fla.zoo.objective.KerasObjective``, or a
                TensorFlow function of [B, D] points returning [B] losses.
            dtype: the precision points are evaluated in (default the loss's, else float32).
            chunk: the most points a call.
        """
        import tensorflow as tf

        self.dtype = dtype or getattr(loss, "dtype", tf.float32)
        self.fn = loss.loss_at_train if hasattr(loss, "loss_at_train") else loss

        def value_and_grad(theta):
            with tf.GradientTape() as tape:
                tape.watch(theta)
                values = self.fn(theta)
            return values, tape.gradient(values, theta)

        self._vg = tf.function(value_and_grad, reduce_retracing=True, autograph=False)
        self._v = tf.function(self.fn, reduce_retracing=True, autograph=False)
        self.chunk = chunk
        self.programs: dict = {}  # compiled path programs over this loss, by their settings
        self.evaluations = 0
        self.calls = 0

    @classmethod
    def of(cls, loss) -> "Energy":
        """``loss`` as an ``Energy`` (itself if it is one).

        Args:
            loss: an ``Energy`` or what ``Energy`` takes.

        Returns:
            The ``Energy``.
        """
        return loss if isinstance(loss, cls) else cls(loss)

    def _run(self, fn, points):
        import tensorflow as tf

        points = np.atleast_2d(points)
        self.evaluations += len(points)
        outs = []
        for start in range(0, len(points), self.chunk):
            self.calls += 1
            outs.append(fn(tf.constant(points[start : start + self.chunk], self.dtype)))
        return outs

    def __call__(self, points: np.ndarray):
        """(values [B] float64, gradients [B, D] float64)."""
        outs = self._run(self._vg, points)
        return (
            np.concatenate([o[0].numpy() for o in outs]).astype(np.float64),
            np.concatenate([o[1].numpy() for o in outs]).astype(np.float64),
        )

    def values(self, points: np.ndarray) -> np.ndarray:
        """The loss at each point, without gradients.

        Args:
            points: [B, D] points.

        Returns:
            [B] float64 losses.
        """
        return np.concatenate([o.numpy() for o in self._run(self._v, points)]).astype(np.float64)


@dataclass
class PathRecord:
    """What every path method returns.

    ``points`` [P, D]: the points that define the path (NEB's pivots; a curve's endpoints and bends,
    which for a Bezier curve are control points off the curve) and ``losses`` [P] their losses;
    ``dense_params`` [M, D] and ``dense_losses`` [M]: the path evaluated densely from the first
    minimum to the second (NEB: 9 points between neighbouring pivots; curves: 61 values of t).
    ``history``: the optimisation's trace (NEB: each step's highest pivot loss; curves: each step's
    mean loss over its t batch). ``recoveries``: the non-finite steps the method went back from.
    ``search``, ``attempts`` and ``failed``: what ``fla.paths.search.search`` made of it.
    """

    method: str
    points: np.ndarray
    losses: np.ndarray
    dense_losses: np.ndarray
    dense_params: np.ndarray = field(repr=False)
    history: list = field(default_factory=list, repr=False)
    recoveries: int = 0
    search: str = "ok"  # what the search found (fla.paths.search): ok, retried, or failed
    attempts: int = 1
    failed: bool = False
    line_saddle_loss: float | None = None  # the straight line's saddle, when the search has it

    @property
    def saddle_loss(self) -> float:
        """The highest loss along the dense path: a true maximum along the returned path."""
        return float(np.max(self.dense_losses))

    @property
    def saddle_params(self) -> np.ndarray:
        """[D] the dense point of the highest loss."""
        return self.dense_params[int(np.argmax(self.dense_losses))]

    @property
    def length(self) -> float:
        """Euclidean length of the path (of the polyline through its dense points)."""
        return float(np.linalg.norm(np.diff(self.dense_params, axis=0), axis=1).sum())

    @property
    def barrier(self) -> float:
        """Saddle loss above the higher of the two end minima."""
        return self.saddle_loss - float(max(self.dense_losses[0], self.dense_losses[-1]))

    @property
    def position(self) -> np.ndarray:
        """Fraction of the path's length at each dense point, 0 at the first minimum, 1 at the
        second."""
        arc = np.concatenate(
            [[0.0], np.cumsum(np.linalg.norm(np.diff(self.dense_params, axis=0), axis=1))]
        )
        return arc / arc[-1] if arc[-1] > 0 else np.linspace(0.0, 1.0, len(arc))


def straight_line(energy: Energy, a: np.ndarray, b: np.ndarray, *, points: int = 61) -> PathRecord:
    """The straight line from a to b as a path record: the baseline every method is compared with.

    Args:
        energy: the ``Energy`` of the loss.
        a: [D] the first minimum.
        b: [D] the second.
        points: points along the line, ends included.

    Returns:
        The ``PathRecord`` of method ``"line"``.
    """
    params = a + np.linspace(0.0, 1.0, points)[:, None] * (b - a)
    losses = energy.values(params)
    return PathRecord("line", params[[0, -1]], losses[[0, -1]], losses, params)


def check_method(method) -> None:
    """Check a path method's settings; a schedule given as lists is kept as tuples (the method stays
    hashable).

    Args:
        method: a path method (a frozen dataclass of settings).

    Raises:
        ConfigError: naming the first setting its kind does not accept, as ``method.setting``.
    """
    check(method, lambda name: f"{method.name}.{name}")
    if "schedule" in {f.name for f in dataclasses.fields(method)}:
        object.__setattr__(method, "schedule", tuple(tuple(c) for c in method.schedule))
