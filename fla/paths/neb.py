"""Nudged Elastic Bands and AutoNEB over any batched loss, as path methods.

``NEB`` relaxes a band of ``pivots`` interior pivots from the straight line between two minima
(``fla.paths.band`` for the tangents, forces and respacing; ``fla.paths.relax`` for the
compiled loop, its step control and its recovery from non-finite values): ``band="string"``
respaces the pivots after every step (the default, as Draxler et al.), ``band="spring"`` holds them
with springs; ``climb=True`` adds a climbing image.

``AutoNEB`` (Draxler et al., ICML 2018, Sec. 3): cycles of NEB; after each, the loss is
evaluated at 9 points between each pair of neighbouring pivots, and a pivot is inserted at the
highest of them wherever that curve rises above the straight line between the two pivots by more
than ``threshold`` (20%) of the path's loss range. The schedule is the paper's 14 cycles (their
steps; with SGD also their learning rates, 0.1 to 0.001). With FIRE a cycle ends early when the band
has converged, and the climbing image is on by default (``climb=True``) so that the highest pivot
converges to the saddle itself.

A path's ``saddle_loss`` is the highest loss along the piecewise-linear band (its dense points), a
true maximum along the returned path; with a climbing image ``path.losses.max()`` is the climbing
pivot's loss, the saddle estimate. In many dimensions chords between pivots can rise above the
saddle (MNIST 784-10-10, 10 pivots: 0.0242 against 0.0188), so AutoNEB's pivot insertion matters.

    >>> path = NEB(pivots=10, climb=True).connect(Energy(loss), start, end)
    >>> path = neb(loss, start, end, climb=True)          # the same
    >>> path.saddle_loss, path.losses.max(), path.length
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fla.base.errors import ConfigError
from fla.base.settings import boolean, choice, custom, integer, is_int, is_number, number, setting
from fla.paths.band import line
from fla.paths.record import Energy, PathRecord, check_method
from fla.paths.relax import NonFiniteBandError, Steps, relax

DENSE = 9  # points evaluated between neighbouring pivots (Draxler et al.)
PAPER_SCHEDULE = (
    ((0.1, 1000),) * 4 + ((0.1, 2000),) * 2 + ((0.01, 1000),) * 4 + ((0.001, 1000),) * 4
)
BANDS = ("string", "spring")
OPTIMIZERS = ("fire", "sgd")
SCHEDULE = custom(
    lambda v: (
        isinstance(v, (list, tuple))
        and len(v) > 0
        and all(
            isinstance(c, (list, tuple))
            and len(c) == 2
            and is_number(c[0])
            and c[0] > 0
            and is_int(c[1])
            and c[1] >= 1
            for c in v
        )
    ),
    "a list of [learning rate > 0, steps >= 1] pairs",
    None,
)


def dense(energy: Energy, pivots: np.ndarray):
    """The band evaluated at ``DENSE`` points between neighbouring pivots (Draxler et al.'s 9),
    pivots included.

    Args:
        energy: the ``Energy`` of the loss.
        pivots: [P, D] the band, its ends the two minima.

    Returns:
        (params [(P - 1) (DENSE + 1) + 1, D], losses [same]).
    """
    t = np.linspace(0.0, 1.0, DENSE + 2)[:-1]
    points = (pivots[:-1, None] + t[None, :, None] * (pivots[1:] - pivots[:-1])[:, None]).reshape(
        -1, pivots.shape[1]
    )
    points = np.concatenate([points, pivots[-1:]])
    return points, energy.values(points)


def finish(
    energy: Energy, pivots: np.ndarray, history: list, *, method: str, stats: dict
) -> PathRecord:
    """A relaxed band as the path record every method returns, evaluated densely.

    Args:
        energy: the ``Energy`` of the loss.
        pivots: [P, D] the relaxed band.
        history: each step's highest pivot loss.
        method: the method's name.
        stats: what the relaxation counted (``recoveries``).

    Returns:
        The ``PathRecord``.

    Raises:
        NonFiniteBandError: non-finite losses between the pivots.
    """
    params, losses = dense(energy, pivots)
    if not np.isfinite(losses).all():
        raise NonFiniteBandError(
            f"{method}: the relaxed band has non-finite losses between its pivots"
        )
    return PathRecord(
        method, pivots, losses[:: DENSE + 1], losses, params, history, stats.get("recoveries", 0)
    )


def insert_pivots(
    pivots: np.ndarray, params: np.ndarray, losses: np.ndarray, *, threshold: float, max_pivots: int
) -> np.ndarray:
    """AutoNEB's insertion (Draxler et al. 2018, Sec. 3): a pivot at the highest dense point of
    every segment whose loss rises above the straight line between its two pivots by more than
    ``threshold`` x the path's loss range, while the band has fewer than ``max_pivots``.

    Args:
        pivots: [P, D] the band.
        params: [M, D] its dense points (``dense``).
        losses: [M] their losses.
        threshold: the rise, as a share of the path's loss range, that earns a pivot.
        max_pivots: the most pivots.

    Returns:
        [P', D] the band with the new pivots, P' >= P.
    """
    span = losses.max() - losses.min()
    new = [pivots[0]]
    for i in range(len(pivots) - 1):
        seg = slice(i * (DENSE + 1), (i + 1) * (DENSE + 1) + 1)
        curve = losses[seg]
        linear = np.linspace(curve[0], curve[-1], len(curve))
        rise = curve - linear
        k = int(np.argmax(rise))
        if span > 0 and rise[k] > threshold * span and len(pivots) + len(new) - i - 1 < max_pivots:
            new.append(params[seg][k])
        new.append(pivots[i + 1])
    return np.array(new)


@dataclass(frozen=True)
class Band:
    """The settings every band method shares: the band's kind and its step control."""

    band: str = setting("string", "string (equal respacing) or spring", choice(*BANDS))
    spring: float = setting(1.0, "spring constant k (band = spring)", number(above=0))
    optimizer: str = setting("fire", "fire (scale-free, default) or sgd", choice(*OPTIMIZERS))
    tol: float = setting(1e-4, "stop when max force < tol (relative with fire)", number(above=0))
    max_step: float = setting(
        0.05, "most a pivot moves per step, x |b - a|; 0 = no cap", number(at_least=0)
    )
    momentum: float = setting(0.9, "sgd momentum", number(at_least=0, below=1))

    def __post_init__(self) -> None:
        check_method(self)
        if self.band == "spring" and not self.spring > 0:
            raise ConfigError(f"{self.name}: band 'spring' needs spring > 0, got {self.spring!r}")

    @property
    def spring_constant(self) -> float | None:
        """The spring constant k of a spring band; None for a string (respaced, no springs)."""
        return self.spring if self.band == "spring" else None

    def control(self, lr: float) -> Steps:
        """The step control of a relaxation (``fla.paths.relax.Steps``).

        Args:
            lr: the SGD learning rate (FIRE sets its own steps).

        Returns:
            The ``Steps``.
        """
        return Steps(self.optimizer, self.max_step, lr=lr, momentum=self.momentum)


@dataclass(frozen=True)
class NEB(Band):
    """Nudged elastic band from the straight line with ``pivots`` interior pivots."""

    name = "neb"
    pivots: int = setting(10, "interior pivots", integer(at_least=0))
    steps: int = setting(2000, "most steps", integer(at_least=1))
    climb: bool = setting(False, "climbing image at the highest pivot", boolean())
    lr: float = setting(0.01, "sgd learning rate", number(above=0))

    def connect(
        self, energy: Energy, start, end, *, initial: np.ndarray | None = None
    ) -> PathRecord:
        """Relax a band from the straight line (or ``initial``) between two minima.

        Args:
            energy: the ``Energy`` of the loss.
            start: [D] the first minimum.
            end: [D] the second.
            initial: [P, D] a band to start from instead of the straight line (ends included).

        Returns:
            The ``PathRecord``: the pivots, their losses and the band evaluated densely.
        """
        start, end = np.asarray(start, np.float64).ravel(), np.asarray(end, np.float64).ravel()
        band = (
            line(start, end, self.pivots + 2)
            if initial is None
            else np.asarray(initial, np.float64)
        )
        history, stats = [], {}
        band, _ = relax(
            energy,
            band,
            self.steps,
            spring=self.spring_constant,
            climb=self.climb,
            control=self.control(self.lr),
            tol=self.tol,
            history=history,
            where="neb: ",
            stats=stats,
        )
        return finish(energy, band, history, method=self.name, stats=stats)


@dataclass(frozen=True)
class AutoNEB(Band):
    """AutoNEB (Draxler et al. 2018): NEB cycles from ``schedule``, pivots inserted between them."""

    name = "autoneb"
    pivots: int = setting(2, "interior pivots to start with", integer(at_least=0))
    schedule: tuple = setting(
        PAPER_SCHEDULE, "(learning rate, steps) per cycle; fire uses the steps", SCHEDULE
    )
    threshold: float = setting(
        0.2, "insert where the loss rises above the line by > threshold x range", number(above=0)
    )
    max_pivots: int = setting(50, "most pivots", integer(at_least=2))
    climb: bool = setting(True, "climbing image at the highest pivot", boolean())

    def connect(self, energy: Energy, start, end) -> PathRecord:
        """AutoNEB (Draxler et al. 2018, Sec. 3): NEB cycles from ``schedule``, pivots inserted
        between them (``insert_pivots``).

        Args:
            energy: the ``Energy`` of the loss.
            start: [D] the first minimum.
            end: [D] the second.

        Returns:
            The ``PathRecord``.
        """
        start, end = np.asarray(start, np.float64).ravel(), np.asarray(end, np.float64).ravel()
        band = line(start, end, self.pivots + 2)
        ends = energy.values(band[[0, -1]])
        history: list = []
        unit, stats = 0.0, {}  # FIRE's force unit: the first cycle's starting band, for all cycles
        for cycle, (lr, steps) in enumerate(self.schedule):
            band, unit = relax(
                energy,
                band,
                steps,
                spring=self.spring_constant,
                climb=self.climb,
                control=self.control(lr),
                tol=self.tol,
                end_losses=ends,
                history=history,
                where=f"autoneb cycle {cycle + 1}: ",
                unit=unit,
                stats=stats,
            )
            if cycle + 1 < len(self.schedule):
                params, losses = dense(energy, band)
                if not np.isfinite(losses).all():
                    raise NonFiniteBandError(
                        f"autoneb cycle {cycle + 1}: non-finite losses between pivots"
                    )
                band = insert_pivots(
                    band, params, losses, threshold=self.threshold, max_pivots=self.max_pivots
                )
        return finish(energy, band, history, method=self.name, stats=stats)


def neb(loss, start, end, **settings) -> PathRecord:
    """One NEB run between two minima.

    Args:
        loss: an objective, a Keras objective, a batched TensorFlow loss, or an ``Energy``.
        start: [D] the first minimum.
        end: [D] the second.
        **settings: ``NEB``'s settings (pivots, steps, climb, band, optimizer, ...) and ``initial``.

    Returns:
        The ``PathRecord``.
    """
    initial = settings.pop("initial", None)
    return NEB(**settings).connect(Energy.of(loss), start, end, initial=initial)


def autoneb(loss, start, end, **settings) -> PathRecord:
    """One AutoNEB run between two minima.

    Args:
        loss: an objective, a Keras objective, a batched TensorFlow loss, or an ``Energy``.
        start: [D] the first minimum.
        end: [D] the second.
        **settings: ``AutoNEB``'s settings (pivots, schedule, threshold, max_pivots, climb, ...).

    Returns:
        The ``PathRecord``.
    """
    return AutoNEB(**settings).connect(Energy.of(loss), start, end)
