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

Each sampler is an object registered by name in ``SAMPLERS`` (as the path methods are in
``fla.paths.methods``): how its walks start (``start``), which point a state stands for
(``position``, ``points``) and how a step moves a block of the state (``move``, given a ``Move``).
The walk program (``fla.walks.program``) runs any of them in the same compiled loop.

    >>> sampler = SAMPLERS["random"]
    >>> u0 = sampler.start(0, 0, count=4, n_params=9, bound=1.0)
    >>> x0 = sampler.points(u0, 1.0)      # the start points, each with one dimension at +-1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from fla.walks import streams
from fla.walks.rule import progressive_gradient_step


def fold(u, bound):
    """The triangle wave of period 4b through (-b, -b) and (b, b): a reflected walk's point from its
    unfolded coordinate.

    Args:
        u: unfolded coordinates (a tensor).
        bound: b.

    Returns:
        fold(u) in [-b, b], of u's shape.
    """
    import tensorflow as tf

    v = tf.math.floormod(u + bound, 4.0 * bound)
    return tf.where(v <= 2.0 * bound, v - bound, 3.0 * bound - v)


def fold_numpy(u: np.ndarray, bound: float) -> np.ndarray:
    """``fold`` in numpy.

    Args:
        u: unfolded coordinates.
        bound: b.

    Returns:
        fold(u) in [-b, b], of u's shape and dtype.
    """
    v = np.mod(u + bound, 4.0 * bound)
    return np.where(v <= 2.0 * bound, v - bound, 3.0 * bound - v).astype(u.dtype)


def progressive_start(seed: int, first: int, *, count: int, n_params: int, bound: float):
    """The unfolded starting coordinates of progressive random walks (Malan and Engelbrecht 2014): a
    half of [-b, b] per dimension, one dimension on its half's boundary.

    Args:
        seed: the run's seed.
        first: the first walk's index.
        count: the walks.
        n_params: D.
        bound: b.

    Returns:
        [count, D] float32 u_0.
    """
    x = streams.start_points(seed, first, count, n_params=n_params, bound=bound)
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


@dataclass(frozen=True)
class Move:
    """What a sampler's step may use, for one block of the walks' state (rows ``coordinates``
    (lo, hi) of D): the ``block``, its ``gradient`` at the block's point, this step's Delta words
    (``deltas()``, drawn or predrawn), any other stream's words (``words(stream, at)``), the
    dimension each walk moves (``dimension()``), and the step's ``step``, ``step_size``,
    ``bound``, ``dtype``, ``feature_major`` layout and ``reflect`` (gradient walks kept inside
    [-b, b]^D)."""

    block: Any
    gradient: Any
    deltas: Callable[[], Any]
    words: Callable[[int, Any], Any]
    dimension: Callable[[], Any]
    step: Any
    step_size: Any
    bound: Any
    dtype: Any
    coordinates: tuple
    feature_major: bool
    reflect: bool


@dataclass(frozen=True)
class Sampler:
    """A sampler: ``folded`` when its state is the unfolded coordinate u and its point fold(u);
    ``draws_delta`` when each step draws a Delta per dimension (``streams.DELTA``, which the
    program may draw a step ahead); ``bounded`` when its points stay in [-b, b]^D whatever the
    walk bounds."""

    name: str
    folded: bool = False
    draws_delta: bool = False
    bounded: bool = True

    def start(self, seed: int, first: int, *, count: int, n_params: int, bound: float):
        """The walks' starting state (theta_0 uniform in [-b, b)^D; progressive walks override it).

        Args:
            seed: the run's seed.
            first: the first walk's index.
            count: the walks.
            n_params: D.
            bound: b.

        Returns:
            [count, D] float32.
        """
        if self.folded:
            return progressive_start(seed, first, count=count, n_params=n_params, bound=bound)
        return streams.start_points(seed, first, count, n_params=n_params, bound=bound)

    def position(self, state, bound):
        """The point a state stands for (fold(u) for folded samplers, else the state).

        Args:
            state: the walks' state (a tensor).
            bound: b.

        Returns:
            The points, of the state's shape.
        """
        return fold(state, bound) if self.folded else state

    def points(self, state: np.ndarray, bound: float) -> np.ndarray:
        """The points states stand for, in numpy.

        Args:
            state: [B, D] states.
            bound: b.

        Returns:
            [B, D] points.
        """
        return fold_numpy(state, bound) if self.folded else state

    def move(self, m: Move):
        """One step of the sampler for one block of the state.

        Args:
            m: the step's ``Move`` for one block of the walks' state.

        Returns:
            The block's next state, of its shape.
        """
        raise NotImplementedError


class GradientWalk(Sampler):
    """The progressive gradient walk (``fla.walks.rule``), reflected into [-b, b]^D with
    ``--walk-bounds reflect``."""

    def move(self, m: Move):
        """One progressive gradient step (``fla.walks.rule``), folded back into [-b, b]^D with
        ``reflect``.

        Args:
            m: the step's ``Move`` for one block of the walks' state.

        Returns:
            The block's next state, of its shape.
        """
        delta = streams.to_uniform(m.deltas(), m.dtype) * m.step_size
        moved = progressive_gradient_step(m.block, m.gradient, delta)
        return fold(moved, m.bound) if m.reflect else moved


class RandomWalk(Sampler):
    """The progressive random walk (Malan and Engelbrecht 2014): every dimension moves by Delta ~
    U(0, s) in its direction, reflected at +-b.
    """

    def move(self, m: Move):
        """One progressive random walk step: u + Delta, Delta ~ U(0, s) per dimension.

        Args:
            m: the step's ``Move`` for one block of the walks' state.

        Returns:
            The block's next state, of its shape.
        """
        return random_step(m.block, m.deltas(), m.step_size, dtype=m.dtype)


class ManhattanWalk(Sampler):
    """The Manhattan progressive random walk (Malan and Engelbrecht 2013): one dimension a step,
    chosen uniformly, moves by exactly s in its direction, reflected at +-b.
    """

    def move(self, m: Move):
        """One Manhattan step: u + s in one dimension per walk, chosen uniformly.

        Args:
            m: the step's ``Move`` for one block of the walks' state.

        Returns:
            The block's next state, of its shape.
        """
        return manhattan_step(
            m.block,
            m.dimension(),
            m.coordinates,
            step_size=m.step_size,
            feature_major=m.feature_major,
        )


class UniformSample(Sampler):
    """Independent uniform samples of [-b, b]^D, one a step."""

    def move(self, m: Move):
        """A fresh uniform point of [-b, b)^D.

        Args:
            m: the step's ``Move`` for one block of the walks' state.

        Returns:
            The block's next state, of its shape.
        """
        return uniform_sample(m.words(streams.UNIFORM, m.step + 1), m.bound, m.dtype)


SAMPLERS = {
    "gradient": GradientWalk("gradient", draws_delta=True, bounded=False),
    "random": RandomWalk("random", folded=True, draws_delta=True),
    "manhattan": ManhattanWalk("manhattan", folded=True),
    "uniform": UniformSample("uniform"),
}


def random_step(u, words, step_size, *, dtype):
    """u + Delta, Delta ~ U(0, s) per dimension.

    Args:
        u: the block's unfolded coordinates.
        words: the Delta words of ``streams.DELTA``, of u's shape.
        step_size: s.
        dtype: the walk's precision.

    Returns:
        The moved block.
    """
    return u + streams.to_uniform(words, dtype) * step_size


def manhattan_step(u, dimension, rows, *, step_size, feature_major: bool):
    """u + s in one dimension per walk.

    Args:
        u: the block ([hi - lo, B] feature-major, else [B, D]).
        dimension: [B] the dimension each walk moves.
        rows: (lo, hi) the coordinates this block holds.
        step_size: s.
        feature_major: the block's layout.

    Returns:
        The moved block.
    """
    import tensorflow as tf

    lo, hi = rows
    index = tf.range(lo, hi, dtype=dimension.dtype)
    hit = index[:, None] == dimension[None, :] if feature_major else dimension[:, None] == index
    return u + tf.cast(hit, u.dtype) * step_size


def uniform_sample(words, bound, dtype):
    """A fresh uniform point of [-b, b)^D.

    Args:
        words: the words of ``streams.UNIFORM``.
        bound: b.
        dtype: the walk's precision.

    Returns:
        The points, of the words' shape.
    """
    return (2.0 * streams.to_uniform(words, dtype) - 1.0) * bound
