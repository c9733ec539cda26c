"""Relaxing a band: one compiled ``tf.while_loop`` that evaluates, forces, steps and recovers.

Step control (the default, ``optimizer="fire"``): FIRE (Bitzek et al., PRL 97, 170201 (2006)) with
the parameters of ASE's implementation (dt 0.1, dt_max 1, N_min 5, f_inc 1.1, f_dec 0.5, alpha 0.1,
f_alpha 0.99) and, as production NEB codes do, a maximum step per pivot. So that the same defaults
work whatever the scale of the loss, forces are measured in units of the largest force on the
starting band and lengths in units of the distance between the two minima: ``max_step`` = 0.05 is 5%
of that distance (for SGD too). A band has converged when the largest force on any pivot is below
``tol`` (1e-4) times the starting band's largest force. ``optimizer="sgd"`` is Draxler et al.'s SGD
with momentum 0.9 at a given ``lr`` on the raw forces (no rescaling), with the same optional cap.

A climbing image starts climbing only once the band has relaxed (largest force below
``CLIMB_AFTER`` of the starting band's, or after a quarter of the steps), as production codes
advise: climbing along the tangent of an unrelaxed band can run away uphill (seen on MNIST
784-10-10, where an AutoNEB band climbed to a loss of 2,122).

Non-finite values: if the loss or a gradient is non-finite at any pivot after a step, the band goes
back to its last finite state, the velocity is zeroed and the time step and maximum step are halved
(and stay so); after ``retries`` (8) consecutive failures from the same band the run stops with
``NonFiniteBandError`` naming the step. A returned band never holds NaN.

The whole relaxation (evaluation, tangents, forces, springs or respacing, climbing image, optimiser,
non-finite recovery) is one ``tf.while_loop`` over a ``BandState`` in one compiled function,
so it runs on a GPU unchanged.

    >>> pivots, unit = relax(Energy(loss), line(a, b, 12), steps=2000, climb=True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fla.base.errors import FlaError
from fla.paths.band import forces, respace
from fla.paths.record import Energy

# the climbing image starts once the largest force is below this x the starting one

CLIMB_AFTER = 0.1


class NonFiniteBandError(FlaError):
    """The band met non-finite losses or gradients and could not recover by shortening its steps."""


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


def fire_update(force, velocity, dt, *, alpha, positive, s: Steps):
    """One FIRE update (Bitzek et al. 2006, as ASE orders it): mix the velocity towards the force,
    slow down uphill, speed up after ``n_min`` steps downhill.

    Args:
        force: [P - 2, D] the forces, in scaled units.
        velocity: [P - 2, D] the velocities.
        dt: the time step.
        alpha: the mixing parameter.
        positive: the steps downhill since the last uphill one.
        s: the step control's constants.

    Returns:
        (displacement in scaled units, velocity, dt, alpha, positive steps).
    """
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


class BandState(NamedTuple):
    """The loop state of ``relaxation``: the band, its last finite copy, and the optimiser's."""

    step: object  # steps taken
    pivots: object  # [P, D], ends included
    values: object  # [P - 2] losses of the interior pivots
    grads: object  # [P - 2, D] their gradients
    good: object  # the last band whose values and gradients were all finite
    good_values: object
    good_grads: object
    velocity: object  # [P - 2, D]
    dt: object  # FIRE's time step (SGD: the learning rate)
    alpha: object  # FIRE's mixing
    positive: object  # FIRE's count of steps with positive power
    cap: object  # the most a pivot moves in one step
    failures: object  # consecutive non-finite steps
    done: object  # converged
    history: object  # TensorArray: each step's highest loss on the band
    climbing: object  # the climbing image is on
    recovered: object  # non-finite steps gone back from


def relaxation(fn, dtype, dim: int, *, spring: float | None, climb: bool, s: Steps):
    """The compiled band relaxation over a loss (``relax`` for its arguments and results), one
    program per dimension and band kind.

    Args:
        fn: the batched TensorFlow loss.
        dtype: its precision.
        dim: D.
        spring: the spring constant, or None for a string.
        climb: with a climbing image.
        s: the step control.

    Returns:
        A ``tf.function`` of (pivots, end losses, steps, tol, retries, unit).
    """
    import tensorflow as tf

    def evaluate(points):
        with tf.GradientTape() as tape:
            tape.watch(points)
            values = fn(points)
        return values, tape.gradient(values, points)

    def finite(values, grads):
        return tf.reduce_all(tf.math.is_finite(values)) & tf.reduce_all(tf.math.is_finite(grads))

    def band_forces(pivots, values, grads, *, ends, climbing):
        """(forces with the climbing image where it climbs, plain forces, energies with ends)."""
        energies = tf.concat([ends[:1], values, ends[1:]], 0)
        plain = forces(pivots, energies, grads, spring=spring, climb=False)
        if not climb:
            return plain, plain, energies
        climbing_forces = forces(pivots, energies, grads, spring=spring, climb=True)
        return tf.where(climbing, climbing_forces, plain), plain, energies

    def recover(x: BandState) -> BandState:
        """Back to the last finite band, with zero velocity and halved steps, if this one is not."""
        ok = finite(x.values, x.grads)
        return x._replace(
            recovered=x.recovered + tf.where(ok, 0, 1),
            pivots=tf.where(ok, x.pivots, x.good),
            values=tf.where(ok, x.values, x.good_values),
            grads=tf.where(ok, x.grads, x.good_grads),
            failures=tf.where(ok, 0, x.failures + 1),
            velocity=tf.where(ok, x.velocity, tf.zeros_like(x.velocity)),
            dt=tf.where(ok, x.dt, x.dt * 0.5),
            cap=tf.where(ok, x.cap, x.cap * 0.5),
        )

    def move_of(force, x: BandState, scale, *, length):
        """(displacement of the interior pivots, capped; the optimiser's new state)."""
        velocity, dt, alpha, positive = x.velocity, x.dt, x.alpha, x.positive
        if s.optimizer == "fire":
            move, velocity, dt, alpha, positive = fire_update(
                force / scale, velocity, dt, alpha=alpha, positive=positive, s=s
            )
            move *= length
        else:
            velocity = s.momentum * velocity + dt * force
            move = velocity
        norms = tf.norm(move, axis=1, keepdims=True)
        move *= tf.minimum(x.cap / tf.where(norms > 0, norms, tf.ones_like(norms)), 1.0)
        return move, dict(velocity=velocity, dt=dt, alpha=alpha, positive=positive)

    def respaced(moved, values, climbing):
        if spring:
            return moved
        plain = respace(moved)
        if not climb:
            return plain
        top = 1 + tf.argmax(values, output_type=tf.int32)
        return tf.where(climbing, respace(moved, top), plain)

    scalar = tf.TensorSpec([], dtype)
    count = tf.TensorSpec([], tf.int32)
    signature = [tf.TensorSpec([None, dim], dtype), tf.TensorSpec([2], dtype), count, scalar]
    signature += [count, scalar]

    @tf.function(autograph=False, input_signature=signature)
    def run(pivots, ends, steps, tol, retries, unit):
        values, grads = evaluate(pivots[1:-1])
        force, _, _ = band_forces(pivots, values, grads, ends=ends, climbing=tf.constant(False))
        fire = s.optimizer == "fire"
        scale = tf.reduce_max(tf.norm(force, axis=1)) if fire else tf.constant(1.0, dtype)
        scale = tf.where(unit > 0, unit, tf.where(scale > 0, scale, tf.ones_like(scale)))
        length = tf.norm(pivots[-1] - pivots[0])
        cap0 = tf.constant(s.max_step, dtype) * length if s.max_step else tf.constant(np.inf, dtype)
        start = BandState(
            step=tf.constant(0),
            pivots=pivots,
            values=values,
            grads=grads,
            good=pivots,
            good_values=values,
            good_grads=grads,
            velocity=tf.zeros_like(force),
            dt=tf.constant(s.dt if fire else s.lr, dtype),
            alpha=tf.constant(s.alpha, dtype),
            positive=tf.constant(0),
            cap=cap0,
            failures=tf.constant(0),
            done=tf.constant(False),
            history=tf.TensorArray(dtype, size=0, dynamic_size=True),
            climbing=tf.constant(False),
            recovered=tf.constant(0),
        )

        def cond(x: BandState):
            return (x.step < steps) & tf.logical_not(x.done) & (x.failures <= retries)

        def body(x: BandState):
            x = recover(x)
            climbing = x.climbing
            if climb:  # the image climbs once the band has relaxed (or a quarter of the steps)
                plain = band_forces(x.pivots, x.values, x.grads, ends=ends, climbing=climbing)[1]
                relaxed = tf.reduce_max(tf.norm(plain, axis=1))
                climbing |= (relaxed < CLIMB_AFTER * scale) | (x.step >= steps // 4)
            force, _, energies = band_forces(
                x.pivots, x.values, x.grads, ends=ends, climbing=climbing
            )
            history = x.history.write(x.step, tf.reduce_max(energies))
            converged = tf.reduce_max(tf.norm(force, axis=1)) < tol * scale
            done = converged & (climbing if climb else True)
            move, optimiser = move_of(force, x, scale, length=length)
            moved = tf.concat([x.pivots[:1], x.pivots[1:-1] + move, x.pivots[-1:]], 0)
            moved = tf.where(done, x.pivots, respaced(moved, x.values, climbing))
            new_values, new_grads = evaluate(moved[1:-1])
            return (
                x._replace(
                    step=x.step + 1,
                    pivots=moved,
                    values=new_values,
                    grads=new_grads,
                    good=x.pivots,
                    good_values=x.values,
                    good_grads=x.grads,
                    done=done,
                    history=history,
                    climbing=climbing,
                    **optimiser,
                ),
            )

        (end,) = tf.while_loop(cond, body, (start,))
        ok = finite(end.values, end.grads)
        band = tf.where(ok, end.pivots, end.good)
        return band, scale, end.failures, end.done, end.step, end.history.stack(), end.recovered

    return run


def relax(
    energy: Energy,
    pivots: np.ndarray,
    steps: int,
    *,
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
    """Up to ``steps`` NEB steps on the interior pivots, in one compiled loop; stops early when the
    largest force on a pivot is below ``tol`` times the force unit (with FIRE ``unit``, or when it
    is 0 the starting band's largest force; with SGD 1). A non-finite step is undone and retried
    with half the step.

    Args:
        energy: the ``Energy`` of the loss.
        pivots: [P, D] the band, its ends the fixed minima.
        steps: the most steps.
        spring: the spring constant, or None for a string (respaced every step).
        climb: with a climbing image at the highest pivot.
        control: the step control (FIRE or SGD).
        tol: the convergence tolerance on the largest force.
        retries: the non-finite steps tolerated.
        end_losses: [2] the ends' losses, if known.
        history: a list each step's highest pivot loss is appended to.
        where: the start of error messages (which method and cycle).
        unit: FIRE's force unit (0: the starting band's largest force).
        stats: a dict whose ``recoveries`` counts the non-finite steps recovered from.

    Returns:
        (pivots [P, D], the force unit used).

    Raises:
        NonFiniteBandError: a non-finite starting band, or ``retries`` non-finite steps.
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
            energy.fn, energy.dtype, pivots.shape[1], spring=spring, climb=climb, s=control
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
