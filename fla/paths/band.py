"""The geometry of a nudged elastic band, in TensorFlow: tangents, forces and respacing.

A band is a chain of pivots R_0 .. R_P in parameter space between two fixed minima. On the interior
pivots act

- the loss force perpendicular to the band, -(g - (g . tau) tau), with the improved tangent of
  Henkelman and Jonsson (J. Chem. Phys. 113, 9978 (2000), eqs. 8-11): tau = tau+ where the loss
  rises through the pivot (V_{i+1} > V_i > V_{i-1}), tau- where it falls; at a local extremum
  tau = tau+ dV_max + tau- dV_min if V_{i+1} > V_{i-1}, else tau+ dV_min + tau- dV_max, with
  dV_max = max(|V_{i+1} - V_i|, |V_{i-1} - V_i|) and dV_min the min (some open implementations swap
  these weights; this follows the paper);
- either a spring force parallel to the band, k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau (eq. 12),
  or, instead of springs, equal respacing of the pivots along the band's arc length after every step
  (``respace``: the string method of E, Ren and Vanden-Eijnden, used by Draxler et al., ICML
  2018);
- on a climbing image (Henkelman, Uberuaga and Jonsson 2000), the highest pivot,
  -g + 2 (g . tau) tau and no spring: it climbs to the saddle. With respacing it is held out of
  the respacing and the pivots on each side of it are respaced separately.

    >>> tau = tangents(pivots, energies)                  # [P - 2, D]
    >>> force = forces(pivots, energies, grads, spring=None, climb=True)
"""

from __future__ import annotations

import numpy as np


def line(start: np.ndarray, end: np.ndarray, count: int) -> np.ndarray:
    """Points evenly spaced from start to end, both included: the straight-line band.

    Args:
        start: [D] the first minimum.
        end: [D] the second.
        count: the points, ends included.

    Returns:
        [count, D] points.
    """
    return start + np.linspace(0.0, 1.0, count)[:, None] * (end - start)


def tangents(pivots, energies):
    """Unit tangents at the interior pivots, the improved tangent of Henkelman and Jonsson (2000,
    eqs. 8-11; module docstring).

    Args:
        pivots: [P, D] the band (a tensor).
        energies: [P] the pivots' losses.

    Returns:
        [P - 2, D] unit tangents.
    """
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


def forces(pivots, energies, grads, *, spring: float | None, climb: bool):
    """The NEB forces on the interior pivots: the loss force perpendicular to the band, and a spring
    force along it (eq. 12) or none (a string, respaced); the climbing image's -g + 2 (g . tau) tau.

    Args:
        pivots: [P, D] the band.
        energies: [P] the pivots' losses.
        grads: [P - 2, D] the interior pivots' gradients.
        spring: the spring constant k, or None for a string.
        climb: the highest interior pivot climbs.

    Returns:
        [P - 2, D] forces.
    """
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
    """Pivots moved to equal arc-length spacing along the piecewise-linear band, ends fixed (the
    string method of E, Ren and Vanden-Eijnden).

    Args:
        pivots: [P, D] the band (a tensor).
        top: a climbing pivot's index: it stays, and each side is respaced on its own.

    Returns:
        [P, D] the respaced band.
    """
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
