"""The samplers beside the progressive gradient walk, as rules of the same compiled walk program.

- ``gradient``: the progressive gradient walk (Bosman, Engelbrecht and Helbig; ``rule``).
- ``random``: the progressive random walk (Malan and Engelbrecht 2014, "A progressive random walk
  algorithm for sampling continuous fitness landscapes"). A random start bit per dimension chooses
  the half of [-b, b] the walk starts in (uniformly within it) and its direction (towards the other
  half); one dimension, chosen uniformly, starts on the boundary of its half. Each step moves every
  dimension by Delta ~ U(0, s) in its direction; a dimension that would leave [-b, b] is reflected
  back inside by as much as it overshot and its direction flips.
- ``manhattan``: the Manhattan progressive random walk (Malan and Engelbrecht 2013, for the gradient
  measures): the same start; each step moves one dimension, chosen uniformly, by exactly s in its
  direction, with the same boundary rule.
- ``uniform``: independent uniform samples of [-b, b]^D, one a step (for fitness-distance
  correlation and dispersion).

The reference code (annabosman/fla-in-tf, ``random_samplers_tf.py``) differs: it reverses a
dimension that would leave the domain instead of reflecting it, picks a layer before a dimension
(so dimensions of small layers move more often), and puts no dimension on the boundary.

A reflected walk is a folded straight one: moving a dimension steadily one way and reflecting it at
+-b gives the same positions as moving an unbounded coordinate u steadily up and folding it into
[-b, b] with the triangle wave of period 4b (``fold``). So the walk's state is u, each step adds
Delta (or s, for one dimension) to it, and the point evaluated and recorded is fold(u); a
dimension's direction is which side of the wave u is on. Every draw is a function of (seed, walk,
step) from the streams of ``streams``, as for gradient walks, so chunks, shards and workers see
the same walks.

    >>> u0 = start_state("random", seed=0, first=0, count=4, n_params=9, bound=1.0)
    >>> x0 = fold_numpy(u0, 1.0)          # the start points, each with one dimension at +-1
"""

from __future__ import annotations

import numpy as np

from fla.walks import streams

SAMPLERS = ("gradient", "random", "manhattan", "uniform")
FOLDED = ("random", "manhattan")  # samplers whose state is the unfolded coordinate u


def fold(u, bound):
    """fold(u) in [-b, b]: the triangle wave of period 4b through (-b, -b) and (b, b)."""
    import tensorflow as tf

    v = tf.math.floormod(u + bound, 4.0 * bound)
    return tf.where(v <= 2.0 * bound, v - bound, 3.0 * bound - v)


def fold_numpy(u: np.ndarray, bound: float) -> np.ndarray:
    v = np.mod(u + bound, 4.0 * bound)
    return np.where(v <= 2.0 * bound, v - bound, 3.0 * bound - v).astype(u.dtype)


def start_state(sampler: str, seed: int, first: int, *, count: int, n_params: int, bound: float):
    """The walks' starting state [count, D] float32: theta_0 for gradient walks and uniform samples
    (uniform in [-b, b)^D), the unfolded coordinates u_0 of random and Manhattan walks."""
    x = streams.start_points(seed, first, count, n_params=n_params, bound=bound)
    if sampler not in FOLDED:
        return x
    words = streams.words_of_walk_range(
        seed, streams.SIDE, 0, first=first, count=count, n=n_params
    ).numpy()
    upper = (words & 1).astype(bool)  # starts in the upper half, moving down
    edge = streams.to_index(
        streams.words_of_walk_range(seed, streams.EDGE, 0, first=first, count=count, n=1), n_params
    ).numpy()[:, 0]
    x = np.where(upper, np.abs(x), -np.abs(x))
    rows = np.arange(count)
    x[rows, edge] = np.where(upper[rows, edge], bound, -bound)
    # direction +1 (lower half): u = x; direction -1 (upper half): u = 2b - x
    return np.where(upper, 2.0 * bound - x, x).astype(np.float32)


def position(sampler: str, state, bound):
    """The point a state stands for (TensorFlow)."""
    return fold(state, bound) if sampler in FOLDED else state


def random_step(u, words, step_size, *, dtype):
    """u + Delta, Delta ~ U(0, s) per dimension (the words of ``streams.DELTA``)."""
    return u + streams.to_uniform(words, dtype) * step_size


def manhattan_step(u, dimension, rows, *, step_size, feature_major: bool):
    """u + s in one dimension per walk: ``dimension`` [B] of the walks, ``rows`` the coordinates
    (lo, hi) of this block of u ([hi - lo, B] feature-major, else [B, D])."""
    import tensorflow as tf

    lo, hi = rows
    index = tf.range(lo, hi, dtype=dimension.dtype)
    hit = index[:, None] == dimension[None, :] if feature_major else dimension[:, None] == index
    return u + tf.cast(hit, u.dtype) * step_size


def uniform_sample(words, bound, dtype):
    """A fresh uniform point of [-b, b)^D from the words of ``streams.UNIFORM``."""
    return (2.0 * streams.to_uniform(words, dtype) - 1.0) * bound
