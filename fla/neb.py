"""Nudged Elastic Bands and AutoNEB over any batched loss: one compiled TensorFlow program per band.

A band is a chain of pivots R_0 .. R_P in parameter space between two fixed minima. Each step
evaluates the loss and gradient of all interior pivots in one batched call and moves them by

- the loss force perpendicular to the band, -(g - (g . tau) tau), with the improved tangent of
  Henkelman and Jonsson (J. Chem. Phys. 113, 9978 (2000), eqs. 8-11): tau = tau+ where the loss
  rises through the pivot (V_{i+1} > V_i > V_{i-1}), tau- where it falls; at a local extremum
  tau = tau+ dV_max + tau- dV_min if V_{i+1} > V_{i-1}, else tau+ dV_min + tau- dV_max, with
  dV_max = max(|V_{i+1} - V_i|, |V_{i-1} - V_i|) and dV_min the min (some open implementations swap
  these weights; this follows the paper);
- either a spring force parallel to the band, k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau (eq. 12)
  (``band="spring"``), or equal respacing of the pivots along the band's arc length after every step
  (``band="string"``, the string method of E, Ren and Vanden-Eijnden, used by Draxler et al., ICML
  2018);
- optionally a climbing image (Henkelman, Uberuaga and Jonsson 2000): the highest pivot feels
  -g + 2 (g . tau) tau, no spring, and climbs to the saddle; with respacing, it is held out of the
  respacing and the pivots on each side of it are respaced separately. As production codes advise,
  it starts climbing only once the band has relaxed (largest force below 10% of the starting band's,
  or after a quarter of the steps): climbing along the tangent of an unrelaxed band can run away
  uphill (seen on MNIST 784-10-10, where an AutoNEB band climbed to a loss of 2,122).

Step control (the default, ``optimizer="fire"``): FIRE (Bitzek et al., PRL 97, 170201 (2006)) with
the parameters of ASE's implementation (dt 0.1, dt_max 1, N_min 5, f_inc 1.1, f_dec 0.5, alpha 0.1,
f_alpha 0.99) and, as production NEB codes do, a maximum step per pivot. So that the same defaults
work whatever the scale of the loss, forces are measured in units of the largest force on the
starting band and lengths in units of the distance between the two minima: ``max_step`` = 0.05 is 5%
of that distance (for SGD too). A band has converged when the largest force on any pivot is below
``tol`` (1e-4) times the starting band's largest force. ``optimizer="sgd"`` is Draxler et al.'s SGD
with momentum 0.9 at a given ``lr`` on the raw forces (no rescaling), with the same optional cap.

Non-finite values: if the loss or a gradient is non-finite at any pivot after a step, the band goes
back to its last finite state, the velocity is zeroed and the time step and maximum step are halved
(and stay so); after ``retries`` (8) consecutive failures from the same band the run stops with
:class:`NonFiniteBandError` naming the step. A returned path never holds NaN.

AutoNEB (Draxler et al. 2018, Sec. 3): cycles of NEB; after each, the loss is evaluated at 9 points
between each pair of neighbouring pivots, and a pivot is inserted at the highest of them wherever
that curve rises above the straight line between the two pivots by more than ``threshold`` (20%) of
the path's loss range. The schedule is the paper's 14 cycles (their steps; with SGD also their
learning rates, 0.1 to 0.001). With FIRE a cycle ends early when the band has converged, and the
climbing image is on by default (``climb=True``) so that the highest pivot converges to the saddle
itself.

The whole relaxation (evaluation, tangents, forces, springs or respacing, climbing image, optimiser,
non-finite recovery) is one ``tf.while_loop`` in one compiled function, so it runs on a GPU
unchanged.

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

from .errors import ConfigError, FlaError
from .paths import Energy, Path, option, validate

DENSE = 9  # points evaluated between neighbouring pivots (Draxler et al.)
CLIMB_AFTER = (
    0.1  # the climbing image starts once the largest force is below this x the starting one
)
PAPER_SCHEDULE = (
    ((0.1, 1000),) * 4 + ((0.1, 2000),) * 2 + ((0.01, 1000),) * 4 + ((0.001, 1000),) * 4
)
BANDS = ("string", "spring")
OPTIMIZERS = ("fire", "sgd")


class NonFiniteBandError(FlaError):
    """The band met non-finite losses or gradients and could not recover by shortening its steps."""


def line(start: np.ndarray, end: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced from start to end, both included."""
    return start + np.linspace(0.0, 1.0, count)[:, None] * (end - start)


# ---- the band's geometry, in TensorFlow ----------------------------------------------------------


def tangents(pivots, energies):
    """Unit tangents [P - 2, D] at the interior pivots, Henkelman and Jonsson (2000) eqs. 8-11."""
    import tensorflow as tf

    plus, minus = pivots[2:] - pivots[1:-1], pivots[1:-1] - pivots[:-2]
    e_prev, e, e_next = energies[:-2, None], energies[1:-1, None], energies[2:, None]
    d_next, d_prev = tf.abs(e_next - e), tf.abs(e_prev - e)
    d_max, d_min = tf.maximum(d_next, d_prev), tf.minimum(d_next, d_prev)
    mixed = tf.where(e_next > e_prev, plus * d_max + minus * d_min, plus * d_min + minus * d_max)
    tau = tf.where(
        (e_next > e) & (e > e_prev), plus, tf.where((e_next < e) & (e < e_prev), minus, mixed)
    )
    norm = tf.norm(tau, axis=1, keepdims=True)
    return tau / tf.where(norm > 0, norm, tf.ones_like(norm))


def forces(pivots, energies, grads, spring: float | None, climb: bool):
    """NEB forces [P - 2, D] on the interior pivots (grads are those of the interior pivots)."""
    import tensorflow as tf

    tau = tangents(pivots, energies)
    parallel = tf.reduce_sum(grads * tau, axis=1, keepdims=True)
    force = -(grads - parallel * tau)
    if spring:
        gaps = tf.norm(pivots[1:] - pivots[:-1], axis=1)
        force += spring * (gaps[1:] - gaps[:-1])[:, None] * tau
    if climb:
        top = tf.argmax(energies[1:-1])
        climbing = -grads + 2 * parallel * tau
        force = tf.where(
            tf.range(tf.shape(force)[0], dtype=top.dtype)[:, None] == top, climbing, force
        )
    return force


def respace(pivots, top=None):
    """Pivots moved to equal arc-length spacing along the piecewise-linear band, ends fixed; with
    ``top`` (a climbing pivot's index) that pivot stays and each side is respaced on its own."""
    import tensorflow as tf

    count = tf.shape(pivots)[0]
    gaps = tf.norm(pivots[1:] - pivots[:-1], axis=1)
    arc = tf.concat([tf.zeros([1], pivots.dtype), tf.cumsum(gaps)], 0)
    index = tf.cast(tf.range(count), pivots.dtype)
    last = tf.cast(count - 1, pivots.dtype)
    if top is None:
        targets = arc[-1] * index / last
    else:
        k = tf.cast(top, pivots.dtype)
        targets = tf.where(
            index <= k,
            arc[top] * index / k,
            arc[top] + (arc[-1] - arc[top]) * (index - k) / (last - k),
        )
    seg = tf.clip_by_value(tf.searchsorted(arc, targets, side="right") - 1, 0, count - 2)
    width = tf.gather(gaps, seg)
    frac = tf.where(
        width > 0,
        (targets - tf.gather(arc, seg)) / tf.where(width > 0, width, tf.ones_like(width)),
        tf.zeros_like(width),
    )
    out = tf.gather(pivots, seg) + frac[:, None] * (
        tf.gather(pivots, seg + 1) - tf.gather(pivots, seg)
    )
    keep = (tf.range(count) == 0) | (tf.range(count) == count - 1)
    if top is not None:
        keep |= tf.range(count) == tf.cast(top, tf.int32)
    out = tf.where(keep[:, None], pivots, out)
    return tf.where(arc[-1] > 0, out, pivots)


# ---- the optimisers, in TensorFlow
# -----------------------------------------------------------------


@dataclass(frozen=True)
class Steps:
    """The step control of a band: FIRE (default) or SGD with momentum; see the module docstring."""

    optimizer: str = "fire"
    max_step: float = 0.05
    dt: float = 0.1
    dt_max: float = 1.0
    lr: float = 0.01
    momentum: float = 0.9
    n_min: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha: float = 0.1
    f_alpha: float = 0.99


def fire_update(force, velocity, dt, alpha, positive, s: Steps):
    """One FIRE update (Bitzek et al. 2006, as ASE orders it): returns (displacement, velocity, dt,
    alpha, positive steps). ``force`` and the returned displacement are in scaled units."""
    import tensorflow as tf

    power = tf.reduce_sum(force * velocity)
    f_norm, v_norm = tf.norm(force), tf.norm(velocity)
    mixed = (1 - alpha) * velocity + alpha * force / (f_norm + 1e-300) * v_norm
    uphill = power <= 0
    velocity = tf.where(uphill, tf.zeros_like(velocity), mixed)
    speed_up = tf.logical_not(uphill) & (positive + 1 > s.n_min)
    dt = tf.where(uphill, dt * s.f_dec, tf.where(speed_up, tf.minimum(dt * s.f_inc, s.dt_max), dt))
    alpha = tf.where(
        uphill, tf.constant(s.alpha, alpha.dtype), tf.where(speed_up, alpha * s.f_alpha, alpha)
    )
    positive = tf.where(uphill, 0, positive + 1)
    velocity += dt * force
    return dt * velocity, velocity, dt, alpha, positive


def relaxation(fn, dtype, dim: int, spring: float | None, climb: bool, steps_control: Steps):
    """A compiled function relaxing a band: see :func:`relax` for its arguments and results."""
    import tensorflow as tf

    s = steps_control

    def evaluate(points):
        with tf.GradientTape() as tape:
            tape.watch(points)
            values = fn(points)
        return values, tape.gradient(values, points)

    def finite(values, grads):
        return tf.reduce_all(tf.math.is_finite(values)) & tf.reduce_all(tf.math.is_finite(grads))

    def band_forces(pivots, values, grads, ends, climbing):
        energies = tf.concat([ends[:1], values, ends[1:]], 0)
        plain = forces(pivots, energies, grads, spring, False)
        if not climb:
            return plain, plain, energies
        return (
            tf.where(climbing, forces(pivots, energies, grads, spring, True), plain),
            plain,
            energies,
        )

    scalar = tf.TensorSpec([], dtype)
    count = tf.TensorSpec([], tf.int32)

    signature = [
        tf.TensorSpec([None, dim], dtype),
        tf.TensorSpec([2], dtype),
        count,
        scalar,
        count,
        scalar,
    ]

    @tf.function(autograph=False, input_signature=signature)
    def run(pivots, ends, steps, tol, retries, unit):
        values, grads = evaluate(pivots[1:-1])
        force, _, energies = band_forces(pivots, values, grads, ends, tf.constant(False))
        scale = (
            tf.reduce_max(tf.norm(force, axis=1))
            if s.optimizer == "fire"
            else tf.constant(1.0, dtype)
        )
        scale = tf.where(unit > 0, unit, tf.where(scale > 0, scale, tf.ones_like(scale)))
        length = tf.norm(pivots[-1] - pivots[0])
        cap0 = tf.constant(s.max_step, dtype) * length if s.max_step else tf.constant(np.inf, dtype)
        dt0 = tf.constant(s.dt if s.optimizer == "fire" else s.lr, dtype)
        history = tf.TensorArray(dtype, size=0, dynamic_size=True)
        state = (
            tf.constant(0),
            pivots,
            values,
            grads,
            pivots,
            values,
            grads,
            tf.zeros_like(force),
            dt0,
            tf.constant(s.alpha, dtype),
            tf.constant(0),
            cap0,
            tf.constant(0),
            tf.constant(False),
            history,
            tf.constant(False),
            tf.constant(0),
        )

        def cond(step, *rest):
            return (step < steps) & tf.logical_not(rest[12]) & (rest[11] <= retries)

        def body(
            step,
            pivots,
            values,
            grads,
            good,
            good_values,
            good_grads,
            velocity,
            dt,
            alpha,
            positive,
            cap,
            failures,
            done,
            history,
            climbing,
            recovered,
        ):
            ok = finite(values, grads)
            recovered += tf.where(ok, 0, 1)
            pivots = tf.where(ok, pivots, good)
            values, grads = tf.where(ok, values, good_values), tf.where(ok, grads, good_grads)
            failures = tf.where(ok, 0, failures + 1)  # consecutive failures at this step
            velocity = tf.where(ok, velocity, tf.zeros_like(velocity))
            dt, cap = tf.where(ok, dt, dt * 0.5), tf.where(ok, cap, cap * 0.5)
            if (
                climb
            ):  # the image climbs once the band has relaxed (or a quarter of the steps is spent)
                relaxed = tf.reduce_max(
                    tf.norm(band_forces(pivots, values, grads, ends, climbing)[1], axis=1)
                )
                climbing |= (relaxed < CLIMB_AFTER * scale) | (step >= steps // 4)
            force, _, energies = band_forces(pivots, values, grads, ends, climbing)
            history = history.write(step, tf.reduce_max(energies))
            done = (tf.reduce_max(tf.norm(force, axis=1)) < tol * scale) & (
                climbing if climb else True
            )
            if s.optimizer == "fire":
                move, velocity, dt, alpha, positive = fire_update(
                    force / scale, velocity, dt, alpha, positive, s
                )
                move *= length
            else:
                velocity = s.momentum * velocity + dt * force
                move = velocity
            norms = tf.norm(move, axis=1, keepdims=True)
            move *= tf.minimum(cap / tf.where(norms > 0, norms, tf.ones_like(norms)), 1.0)
            moved = tf.concat([pivots[:1], pivots[1:-1] + move, pivots[-1:]], 0)
            if not spring:
                plain = respace(moved)
                moved = (
                    tf.where(
                        climbing, respace(moved, 1 + tf.argmax(values, output_type=tf.int32)), plain
                    )
                    if climb
                    else plain
                )
            moved = tf.where(done, pivots, moved)
            new_values, new_grads = evaluate(moved[1:-1])
            return (
                step + 1,
                moved,
                new_values,
                new_grads,
                pivots,
                values,
                grads,
                velocity,
                dt,
                alpha,
                positive,
                cap,
                failures,
                done,
                history,
                climbing,
                recovered,
            )

        out = tf.while_loop(cond, body, state)
        step, pivots, values, grads, good, good_values, good_grads = out[:7]
        ok = finite(values, grads)
        return (tf.where(ok, pivots, good), scale, out[12], out[13], step, out[14].stack(), out[16])

    return run


def relax(
    energy: Energy,
    pivots: np.ndarray,
    steps: int,
    spring: float | None = None,
    climb: bool = False,
    control: Steps = Steps(),
    tol: float = 1e-4,
    retries: int = 8,
    end_losses=None,
    history: list | None = None,
    where: str = "",
    unit: float = 0.0,
    stats: dict | None = None,
) -> tuple[np.ndarray, float]:
    """Up to ``steps`` NEB steps on the interior pivots of ``pivots`` [P, D], in one compiled loop.

    Stops early when the largest force on a pivot is below ``tol`` times the force unit: with FIRE
    ``unit``, or when it is 0 the starting band's largest force; with SGD 1. Appends each step's
    highest pivot loss to ``history`` and the number of non-finite steps it recovered from to
    ``stats["recoveries"]``. Returns (pivots, the force unit used).
    """
    import tensorflow as tf

    pivots = np.array(pivots, np.float64)
    if len(pivots) <= 2 or steps <= 0:
        return pivots, unit  # nothing to move
    ends = np.asarray(
        end_losses if end_losses is not None else energy.values(pivots[[0, -1]]), np.float64
    )
    key = ("band", pivots.shape[1], spring, climb, control)
    if key not in energy.programs:
        energy.programs[key] = relaxation(
            energy.fn, energy.dtype, pivots.shape[1], spring, climb, control
        )
    dtype = energy.dtype
    start_values = energy.values(pivots[1:-1])
    if not np.isfinite(start_values).all() or not np.isfinite(ends).all():
        raise NonFiniteBandError(
            f"{where}the starting band has a non-finite loss at pivot(s) "
            f"{np.flatnonzero(~np.isfinite(np.r_[ends[0], start_values, ends[1]])).tolist()}"
        )
    out, unit, failures, _, taken, trace, recovered = energy.programs[key](
        tf.constant(pivots, dtype),
        tf.constant(ends, dtype),
        tf.constant(steps),
        tf.constant(tol, dtype),
        tf.constant(retries),
        tf.constant(unit, dtype),
    )
    taken = int(taken)
    energy.evaluations += taken * (len(pivots) - 2)
    energy.calls += taken
    if int(failures) > retries:
        raise NonFiniteBandError(
            f"{where}non-finite loss or gradient on the band at step {taken}, still after "
            f"{retries} retries with halved steps; the last finite band is lost"
        )
    if history is not None:
        history.extend(trace.numpy().astype(np.float64).tolist())
    if stats is not None:
        stats["recoveries"] = stats.get("recoveries", 0) + int(recovered)
    return out.numpy().astype(np.float64), float(unit)


def dense(energy: Energy, pivots: np.ndarray):
    """The band at DENSE points between neighbouring pivots, pivots included: (params, losses)."""
    t = np.linspace(0.0, 1.0, DENSE + 2)[:-1]
    points = (pivots[:-1, None] + t[None, :, None] * (pivots[1:] - pivots[:-1])[:, None]).reshape(
        -1, pivots.shape[1]
    )
    points = np.concatenate([points, pivots[-1:]])
    return points, energy.values(points)


def finish(energy: Energy, pivots: np.ndarray, history: list, method: str, stats: dict) -> Path:
    params, losses = dense(energy, pivots)
    if not np.isfinite(losses).all():
        raise NonFiniteBandError(
            f"{method}: the relaxed band has non-finite losses between its pivots"
        )
    return Path(
        method, pivots, losses[:: DENSE + 1], losses, params, history, stats.get("recoveries", 0)
    )


def insert_pivots(
    pivots: np.ndarray, params: np.ndarray, losses: np.ndarray, threshold: float, max_pivots: int
) -> np.ndarray:
    """AutoNEB's insertion: a pivot at the highest dense point of every segment whose loss rises
    above
    the straight line between its two pivots by more than ``threshold`` x the path's loss range."""
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

    band: str = option("string", "string (equal respacing) or spring", BANDS)
    spring: float = option(1.0, "spring constant k (band = spring)", "float>0")
    optimizer: str = option("fire", "fire (scale-free, default) or sgd", OPTIMIZERS)
    tol: float = option(1e-4, "stop when max force < tol (relative with fire)", "float>0")
    max_step: float = option(0.05, "most a pivot moves per step, x |b - a|; 0 = no cap", "float>=0")
    momentum: float = option(0.9, "sgd momentum", "[0,1)")

    def __post_init__(self) -> None:
        validate(self)
        if self.band == "spring" and not self.spring > 0:
            raise ConfigError(f"{self.name}: band 'spring' needs spring > 0, got {self.spring!r}")

    @property
    def spring_constant(self) -> float | None:
        return self.spring if self.band == "spring" else None

    def control(self, lr: float) -> Steps:
        return Steps(self.optimizer, self.max_step, lr=lr, momentum=self.momentum)


@dataclass(frozen=True)
class NEB(Band):
    """Nudged elastic band from the straight line with ``pivots`` interior pivots."""

    name = "neb"
    pivots: int = option(10, "interior pivots", "int>=0")
    steps: int = option(2000, "most steps", "int>=1")
    climb: bool = option(False, "climbing image at the highest pivot", "bool")
    lr: float = option(0.01, "sgd learning rate", "float>0")

    def connect(self, energy: Energy, start, end, initial: np.ndarray | None = None) -> Path:
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
            self.spring_constant,
            self.climb,
            self.control(self.lr),
            self.tol,
            history=history,
            where="neb: ",
            stats=stats,
        )
        return finish(energy, band, history, self.name, stats)


@dataclass(frozen=True)
class AutoNEB(Band):
    """AutoNEB (Draxler et al. 2018): NEB cycles from ``schedule``, pivots inserted between them."""

    name = "autoneb"
    pivots: int = option(2, "interior pivots to start with", "int>=0")
    schedule: tuple = option(
        PAPER_SCHEDULE, "(learning rate, steps) per cycle; fire uses the steps", "schedule"
    )
    threshold: float = option(
        0.2, "insert where the loss rises above the line by > threshold x range", "float>0"
    )
    max_pivots: int = option(50, "most pivots", "int>=2")
    climb: bool = option(True, "climbing image at the highest pivot", "bool")

    def connect(self, energy: Energy, start, end) -> Path:
        start, end = np.asarray(start, np.float64).ravel(), np.asarray(end, np.float64).ravel()
        band = line(start, end, self.pivots + 2)
        ends = energy.values(band[[0, -1]])
        history: list = []
        unit, stats = (
            0.0,
            {},
        )  # FIRE's force unit: the first cycle's starting band, kept for all cycles
        for cycle, (lr, steps) in enumerate(self.schedule):
            band, unit = relax(
                energy,
                band,
                steps,
                self.spring_constant,
                self.climb,
                self.control(lr),
                self.tol,
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
                band = insert_pivots(band, params, losses, self.threshold, self.max_pivots)
        return finish(energy, band, history, self.name, stats)


def neb(loss, start, end, **settings) -> Path:
    """One NEB run (see :class:`NEB` for the settings and their defaults)."""
    initial = settings.pop("initial", None)
    return NEB(**settings).connect(Energy.of(loss), start, end, initial)


def autoneb(loss, start, end, **settings) -> Path:
    """AutoNEB (see :class:`AutoNEB` for the settings and their defaults)."""
    return AutoNEB(**settings).connect(Energy.of(loss), start, end)
