"""Nudged Elastic Bands and AutoNEB over any batched loss, all pivots evaluated in one call.

A band is a chain of pivots R_0 .. R_P in parameter space between two fixed minima. Each step
evaluates the loss and gradient of all interior pivots in one batched call and moves them by

- the loss force perpendicular to the band, -(g - (g . tau) tau), with the improved tangent of
  Henkelman and Jonsson (J. Chem. Phys. 113, 9978 (2000), eqs. 8-11): tau = tau+ where the loss
  rises through the pivot (V_{i+1} > V_i > V_{i-1}), tau- where it falls; at a local extremum
  tau = tau+ dV_max + tau- dV_min if V_{i+1} > V_{i-1}, else tau+ dV_min + tau- dV_max, with
  dV_max = max(|V_{i+1} - V_i|, |V_{i-1} - V_i|) and dV_min the min (some open implementations swap
  these weights; this follows the paper);
- either a spring force parallel to the band, k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau (eq. 12), or
  equal respacing of the pivots along the band's arc length after every step (the string method of
  E, Ren and Vanden-Eijnden, used by Draxler et al., ICML 2018);
- optionally a climbing image (Henkelman, Uberuaga and Jonsson 2000): the highest pivot feels
  -g + 2 (g . tau) tau, no spring, and climbs to the saddle; with respacing, it is held out of the
  respacing and the pivots on each side of it are respaced separately.

The pivots move by SGD with momentum (Draxler et al.) or FIRE (Bitzek et al., PRL 97, 170201 (2006)).

AutoNEB (Draxler et al. 2018, Sec. 3): cycles of NEB; after each, the loss is evaluated at 9 points
between each pair of neighbouring pivots, and a pivot is inserted at the highest of them wherever that
curve rises above the straight line between the two pivots by more than ``threshold`` (20%) of the
path's loss range. The default schedule is the paper's 14 cycles.

    >>> path = neb(loss, start, end, pivots=10, steps=500, climb=True)
    >>> path.saddle_loss, path.length
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DENSE = 9  # points evaluated between neighbouring pivots (Draxler et al.)
PAPER_SCHEDULE = ([(0.1, 1000)] * 4 + [(0.1, 2000)] * 2 + [(0.01, 1000)] * 4 + [(0.001, 1000)] * 4)


class Energy:
    """A batched loss as NEB needs it: values [B] and gradients [B, D] of points [B, D], numpy out.

    ``loss`` is an :class:`fla.objective.Objective` (its training loss) or any TensorFlow function of a
    [B, D] float tensor returning [B] losses. ``evaluations`` counts points evaluated, ``calls``
    batched calls.
    """

    def __init__(self, loss, dtype=None, chunk: int = 4096):
        import tensorflow as tf

        self.dtype = dtype or getattr(loss, "dtype", tf.float32)
        fn = loss.loss_at_train if hasattr(loss, "loss_at_train") else loss

        def value_and_grad(theta):
            with tf.GradientTape() as tape:
                tape.watch(theta)
                values = fn(theta)
            return values, tape.gradient(values, theta)

        self._vg = tf.function(value_and_grad, reduce_retracing=True)
        self._v = tf.function(fn, reduce_retracing=True)
        self.chunk = chunk
        self.evaluations = 0
        self.calls = 0

    def _run(self, fn, points):
        import tensorflow as tf

        points = np.atleast_2d(points)
        self.evaluations += len(points)
        outs = []
        for start in range(0, len(points), self.chunk):
            self.calls += 1
            outs.append(fn(tf.constant(points[start:start + self.chunk], self.dtype)))
        return outs

    def __call__(self, points: np.ndarray):
        """(values [B] float64, gradients [B, D] float64)."""
        outs = self._run(self._vg, points)
        return (np.concatenate([o[0].numpy() for o in outs]).astype(np.float64),
                np.concatenate([o[1].numpy() for o in outs]).astype(np.float64))

    def values(self, points: np.ndarray) -> np.ndarray:
        return np.concatenate([o.numpy() for o in self._run(self._v, points)]).astype(np.float64)


@dataclass
class Path:
    """A band between two minima: pivots [P, D] with their losses, and the dense loss curve."""

    pivots: np.ndarray
    losses: np.ndarray
    dense_losses: np.ndarray
    dense_params: np.ndarray = field(repr=False)
    history: list = field(default_factory=list, repr=False)

    @property
    def saddle_loss(self) -> float:
        return float(np.max(self.dense_losses))

    @property
    def saddle_params(self) -> np.ndarray:
        return self.dense_params[int(np.argmax(self.dense_losses))]

    @property
    def length(self) -> float:
        return float(np.linalg.norm(np.diff(self.pivots, axis=0), axis=1).sum())

    @property
    def barrier(self) -> float:
        """Saddle loss above the higher of the two end minima."""
        return self.saddle_loss - float(max(self.losses[0], self.losses[-1]))


def tangents(pivots: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Unit tangents [P - 2, D] at the interior pivots, Henkelman and Jonsson (2000) eqs. 8-11."""
    plus = pivots[2:] - pivots[1:-1]
    minus = pivots[1:-1] - pivots[:-2]
    e_prev, e, e_next = energies[:-2, None], energies[1:-1, None], energies[2:, None]
    d_next, d_prev = np.abs(e_next - e), np.abs(e_prev - e)
    d_max, d_min = np.maximum(d_next, d_prev), np.minimum(d_next, d_prev)
    mixed = np.where(e_next > e_prev, plus * d_max + minus * d_min, plus * d_min + minus * d_max)
    tau = np.where((e_next > e) & (e > e_prev), plus, np.where((e_next < e) & (e < e_prev), minus, mixed))
    norm = np.linalg.norm(tau, axis=1, keepdims=True)
    return tau / np.where(norm > 0, norm, 1.0)


def forces(pivots, energies, grads, spring: float | None, climb: bool) -> np.ndarray:
    """NEB forces [P - 2, D] on the interior pivots (grads are those of the interior pivots)."""
    tau = tangents(pivots, energies)
    parallel = np.einsum("pd,pd->p", grads, tau)[:, None]
    force = -(grads - parallel * tau)
    if spring:
        gaps = np.linalg.norm(np.diff(pivots, axis=0), axis=1)
        force += spring * (gaps[1:] - gaps[:-1])[:, None] * tau
    if climb:
        top = int(np.argmax(energies[1:-1]))
        force[top] = -grads[top] + 2 * parallel[top] * tau[top]
    return force


def respace(pivots: np.ndarray) -> np.ndarray:
    """Pivots moved to equal arc-length spacing along the piecewise-linear band (ends fixed)."""
    gaps = np.linalg.norm(np.diff(pivots, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(gaps)])
    if arc[-1] == 0:
        return pivots
    targets = np.linspace(0.0, arc[-1], len(pivots))
    seg = np.clip(np.searchsorted(arc, targets, side="right") - 1, 0, len(gaps) - 1)
    frac = np.where(gaps[seg] > 0, (targets - arc[seg]) / np.where(gaps[seg] > 0, gaps[seg], 1), 0.0)
    out = pivots[seg] + frac[:, None] * (pivots[seg + 1] - pivots[seg])
    out[0], out[-1] = pivots[0], pivots[-1]
    return out


class SGD:
    """Gradient descent on the NEB force with momentum (Draxler et al.: momentum 0.9)."""

    def __init__(self, lr: float, momentum: float = 0.9):
        self.lr, self.momentum, self.velocity = lr, momentum, None

    def step(self, force: np.ndarray) -> np.ndarray:
        self.velocity = self.lr * force if self.velocity is None else self.momentum * self.velocity + self.lr * force
        return self.velocity


class FIRE:
    """Fast Inertial Relaxation Engine (Bitzek et al. 2006), with the paper's parameters, per band."""

    def __init__(self, lr: float, dt_max_factor: float = 10.0, n_min: int = 5, f_inc: float = 1.1,
                 f_dec: float = 0.5, alpha_start: float = 0.1, f_alpha: float = 0.99):
        self.dt, self.dt_max, self.n_min = lr, lr * dt_max_factor, n_min
        self.f_inc, self.f_dec, self.alpha_start, self.f_alpha = f_inc, f_dec, alpha_start, f_alpha
        self.alpha, self.positive, self.velocity = alpha_start, 0, None

    def step(self, force: np.ndarray) -> np.ndarray:
        if self.velocity is None:
            self.velocity = np.zeros_like(force)
        power = float(np.sum(force * self.velocity))
        f_norm, v_norm = np.linalg.norm(force), np.linalg.norm(self.velocity)
        self.velocity = (1 - self.alpha) * self.velocity + self.alpha * force / (f_norm + 1e-300) * v_norm
        if power > 0:
            self.positive += 1
            if self.positive > self.n_min:
                self.dt = min(self.dt * self.f_inc, self.dt_max)
                self.alpha *= self.f_alpha
        else:
            self.positive, self.alpha = 0, self.alpha_start
            self.dt *= self.f_dec
            self.velocity[:] = 0.0
        self.velocity += self.dt * force
        return self.dt * self.velocity


def line(start: np.ndarray, end: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced from start to end, both included."""
    return start + np.linspace(0.0, 1.0, count)[:, None] * (end - start)


def dense(energy: Energy, pivots: np.ndarray):
    """The band at DENSE points between neighbouring pivots, pivots included: (params, losses)."""
    t = np.linspace(0.0, 1.0, DENSE + 2)[:-1]
    points = (pivots[:-1, None] + t[None, :, None] * (pivots[1:] - pivots[:-1])[:, None]).reshape(-1, pivots.shape[1])
    points = np.concatenate([points, pivots[-1:]])
    return points, energy.values(points)


def relax(energy: Energy, pivots: np.ndarray, steps: int, lr: float, optimizer: str = "sgd",
          momentum: float = 0.9, spring: float | None = None, climb: bool = False, tol: float = 0.0,
          end_losses=None, history: list | None = None) -> np.ndarray:
    """``steps`` NEB steps on the interior pivots; stops early when max |force| < tol."""
    pivots = np.array(pivots, np.float64)
    if len(pivots) <= 2:
        return pivots  # nothing to move
    ends = end_losses if end_losses is not None else energy.values(pivots[[0, -1]])
    opt = SGD(lr, momentum) if optimizer == "sgd" else FIRE(lr)
    for _ in range(steps):
        values, grads = energy(pivots[1:-1])
        energies = np.concatenate([[ends[0]], values, [ends[1]]])
        force = forces(pivots, energies, grads, spring, climb)
        if history is not None:
            history.append(float(energies.max()))
        if tol and np.abs(force).max() < tol:
            break
        pivots[1:-1] += opt.step(force)
        if spring is None and climb:  # the climbing image stays put; each side is respaced
            top = 1 + int(np.argmax(energies[1:-1]))
            pivots = np.concatenate([respace(pivots[:top + 1])[:-1], respace(pivots[top:])])
        elif spring is None:
            pivots = respace(pivots)
    return pivots


def finish(energy: Energy, pivots: np.ndarray, history: list) -> Path:
    params, losses = dense(energy, pivots)
    return Path(pivots, losses[::DENSE + 1], losses, params, history)


def neb(loss, start, end, pivots: int = 10, steps: int = 1000, lr: float = 0.01, optimizer: str = "sgd",
        momentum: float = 0.9, spring: float | None = None, climb: bool = False, tol: float = 0.0,
        initial: np.ndarray | None = None) -> Path:
    """One NEB run from the straight line (or ``initial`` pivots [P, D]) between start and end.

    ``pivots`` counts the interior pivots. ``spring=None`` respaces the pivots equally after every
    step (string method); a number k uses springs of stiffness k instead.
    """
    energy = loss if isinstance(loss, Energy) else Energy(loss)
    start, end = np.asarray(start, np.float64).ravel(), np.asarray(end, np.float64).ravel()
    band = line(start, end, pivots + 2) if initial is None else np.asarray(initial, np.float64)
    history: list = []
    band = relax(energy, band, steps, lr, optimizer, momentum, spring, climb, tol, history=history)
    return finish(energy, band, history)


def insert_pivots(pivots: np.ndarray, params: np.ndarray, losses: np.ndarray, threshold: float,
                  max_pivots: int) -> np.ndarray:
    """AutoNEB's insertion: a pivot at the highest dense point of every segment whose loss rises above
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


def autoneb(loss, start, end, schedule=PAPER_SCHEDULE, pivots: int = 2, threshold: float = 0.2,
            max_pivots: int = 50, optimizer: str = "sgd", momentum: float = 0.9, spring: float | None = None,
            climb: bool = False) -> Path:
    """AutoNEB (Draxler et al. 2018): NEB cycles (lr, steps) from ``schedule``, pivots inserted
    between cycles where the dense loss rises above the linear interpolation by > threshold x range."""
    energy = loss if isinstance(loss, Energy) else Energy(loss)
    start, end = np.asarray(start, np.float64).ravel(), np.asarray(end, np.float64).ravel()
    band = line(start, end, pivots + 2)
    ends = energy.values(band[[0, -1]])
    history: list = []
    for cycle, (lr, steps) in enumerate(schedule):
        band = relax(energy, band, steps, lr, optimizer, momentum, spring, climb, end_losses=ends, history=history)
        if cycle + 1 < len(schedule):
            params, losses = dense(energy, band)
            band = insert_pivots(band, params, losses, threshold, max_pivots)
    return finish(energy, band, history)
