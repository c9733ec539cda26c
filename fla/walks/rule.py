"""The progressive gradient walk's rule (Bosman, Engelbrecht and Helbig): each coordinate moves by
Delta ~ U(0, s) against the sign of its gradient component (a zero component moves it +), and the
gradient norm recorded beside it.

Walk bounds: unbounded (``none``, as in the modality paper), or kept inside [-b, b]^D by
reflection (``reflect``, as the random walks of the landscape measures are, Malan and Engelbrecht
2014): a coordinate that would leave comes back inside by as much as it overshot
(``fla.walks.samplers.fold``; a step, at most 10% of 2b, never crosses the box).
"""

from __future__ import annotations

WALK_BOUNDS = ("none", "reflect")


def progressive_gradient_step(theta, grad, delta):
    """One progressive gradient step (Bosman, Engelbrecht and Helbig): each coordinate moves by its
    delta against the sign of its gradient, theta - delta where grad > 0, theta + delta elsewhere (a
    zero component moves it +).

    Args:
        theta: the walks' parameters (any layout).
        grad: their gradients, of theta's shape.
        delta: the step's draws, U(0, s) per coordinate, of theta's shape.

    Returns:
        The next parameters.
    """
    import tensorflow as tf

    return theta + tf.where(grad > 0, -delta, delta)


def sum_of_squares_over_rows(g):
    """sum_i g[i, b]^2 of a feature-major gradient block, for the gradient norm. The rows are summed
    in groups of k (the largest divisor of their number up to 16) as k elementwise terms, then the
    group sums reduced; written as one reduction over the rows, XLA:CPU first writes the squares out
    and reads them back (``python bench/bench_step_forms.py`` times both in the MNIST 784-10-10
    step).

    Args:
        g: [rows, B] a gradient block.

    Returns:
        [B] sums of squares.
    """
    import tensorflow as tf

    rows = g.shape[0]
    k = max(d for d in range(1, 17) if rows % d == 0)
    groups = tf.reshape(g, [rows // k, k, -1])
    return tf.reduce_sum(tf.add_n([groups[:, j] * groups[:, j] for j in range(k)]), 0)
