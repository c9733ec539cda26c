"""Paths between minima: the batched energy every path method evaluates, the path record every
method returns, and the registry of methods behind one interface.

A path method is a frozen dataclass with a ``name`` and ``connect(energy, a, b) -> Path``; its
fields are its settings, each declared with :func:`option` (default, help, and the values it
accepts), so that a settings file or the command line builds one by name (:func:`path_method`) and a
bad value is refused naming the setting. Methods: ``neb`` and ``autoneb`` (:mod:`fla.neb`),
``bezier`` and ``polychain`` (:mod:`fla.curves`).

    >>> method = path_method("autoneb", {"climb": False})
    >>> path = method.connect(Energy(loss), a, b)
    >>> path.saddle_loss, path.barrier, path.length, path.dense_losses
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError


class Energy:
    """A batched loss as path methods need it: values [B] and gradients [B, D] of points [B, D],
    numpy out.

    ``loss`` is an :class:`fla.objective.Objective` (its training loss), a
    :class:`fla.zoo.objective.KerasObjective`, or any TensorFlow function of a [B, D] float tensor
    returning [B] losses (``fn``, which compiled path programs call directly). ``evaluations``
    counts points evaluated, ``calls`` batched calls.
    """

    def __init__(self, loss, dtype=None, chunk: int = 4096):
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
        return np.concatenate([o.numpy() for o in self._run(self._v, points)]).astype(np.float64)


@dataclass
class Path:
    """What every path method returns.

    ``points`` [P, D]: the points that define the path (NEB's pivots; a curve's endpoints and bends,
    which for a Bezier curve are control points off the curve) and ``losses`` [P] their losses;
    ``dense_params`` [M, D] and ``dense_losses`` [M]: the path evaluated densely from the first
    minimum to the second (NEB: 9 points between neighbouring pivots; curves: 61 values of t).
    ``history``: the optimisation's trace (NEB: each step's highest pivot loss; curves: each step's
    mean loss over its t batch). ``recoveries``: the non-finite steps the method went back from.
    """

    method: str
    points: np.ndarray
    losses: np.ndarray
    dense_losses: np.ndarray
    dense_params: np.ndarray = field(repr=False)
    history: list = field(default_factory=list, repr=False)
    recoveries: int = 0

    @property
    def saddle_loss(self) -> float:
        return float(np.max(self.dense_losses))

    @property
    def saddle_params(self) -> np.ndarray:
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


def straight_line(energy: Energy, a: np.ndarray, b: np.ndarray, points: int = 61) -> Path:
    """The straight line from a to b as a path record (the baseline every method is compared
    with)."""
    params = a + np.linspace(0.0, 1.0, points)[:, None] * (b - a)
    losses = energy.values(params)
    return Path("line", params[[0, -1]], losses[[0, -1]], losses, params)


# ---- settings -----------------------------------------------------------------------------------

KINDS = {
    "int>=0": (lambda v: _int(v) and v >= 0, "an integer >= 0"),
    "int>=1": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "int>=2": (lambda v: _int(v) and v >= 2, "an integer >= 2"),
    "float>0": (lambda v: _num(v) and v > 0, "a number > 0"),
    "float>=0": (lambda v: _num(v) and v >= 0, "a number >= 0"),
    "[0,1)": (lambda v: _num(v) and 0 <= v < 1, "a number in [0, 1)"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "schedule": (
        lambda v: (
            isinstance(v, (list, tuple))
            and len(v) > 0
            and all(
                isinstance(c, (list, tuple))
                and len(c) == 2
                and _num(c[0])
                and c[0] > 0
                and _int(c[1])
                and c[1] >= 1
                for c in v
            )
        ),
        "a list of [learning rate > 0, steps >= 1] pairs",
    ),
}


def _int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _num(v) -> bool:
    return (
        isinstance(v, (int, float, np.integer, np.floating))
        and not isinstance(v, bool)
        and np.isfinite(v)
    )


def option(default, help: str, accepts):
    """A path method's setting: ``accepts`` is a key of KINDS or a tuple of the valid names."""
    return field(default=default, metadata={"help": help, "accepts": accepts})


def expects(accepts) -> str:
    return f"one of {', '.join(accepts)}" if isinstance(accepts, tuple) else KINDS[accepts][1]


def validate(method) -> None:
    """ConfigError naming the first setting of ``method`` whose value it does not accept."""
    for f in dataclasses.fields(method):
        accepts, value = f.metadata["accepts"], getattr(method, f.name)
        ok = value in accepts if isinstance(accepts, tuple) else KINDS[accepts][0](value)
        if not ok:
            raise ConfigError(f"{method.name}.{f.name} must be {expects(accepts)}, got {value!r}")
    if "schedule" in {f.name for f in dataclasses.fields(method)}:
        object.__setattr__(method, "schedule", tuple(tuple(c) for c in method.schedule))


def methods() -> dict:
    """Every path method by name."""
    from .curves import Bezier, PolyChain
    from .neb import NEB, AutoNEB

    return {m.name: m for m in (AutoNEB, NEB, Bezier, PolyChain)}


def path_method(name: str, settings: dict | None = None, where: str = ""):
    """The method called ``name`` with ``settings`` (each checked); errors list what is valid."""
    known = methods()
    if name not in known:
        raise ConfigError(f"{where}unknown path method {name!r}; valid: {', '.join(known)}")
    cls = known[name]
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = set(settings or {}) - set(names)
    if unknown:
        raise ConfigError(
            f"{where}[{name}] has no setting {', '.join(sorted(map(repr, unknown)))}; "
            f"it takes {', '.join(names)}"
        )
    try:
        return cls(**(settings or {}))
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
