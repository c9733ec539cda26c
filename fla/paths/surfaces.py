"""Classic analytic 2D surfaces with known minima and saddles, as batched TensorFlow losses [B, 2]
-> [B].

- Mueller-Brown (K. Mueller and L. D. Brown, Theor. Chim. Acta 53, 75 (1979)): three minima and two
  saddles; the minimum energy path from A to B runs over saddle S1, minimum C and saddle S2.
- Himmelblau (D. M. Himmelblau, Applied Nonlinear Programming, 1972): f = (x^2 + y - 11)^2 +
  (x + y^2 - 7)^2, four minima of value 0, one maximum and four saddles.
- Wolfe-Quapp (S. Wolfe, W. Quapp, J. Math. Chem. 1998 and W. Quapp, J. Theor. Comput. Chem. 2,
  385 (2003)): f = x^4 + y^4 - 2x^2 - 4y^2 + xy + 0.3x + 0.1y, three minima, three saddles and a
  maximum; the minima agree with Quapp's M1-M3 to the 4 digits he gives, the rest were found by a
  Newton solve on the exact gradient from a grid of starts (6 digits kept).
- A tilted ring (constructed here as a curved valley with analytic structure): f = 10 (x^2 + y^2 -
  1)^2
  - x^2 - y / 2, two minima near (+-0.99, 0.25) joined along the ring over a saddle near (0, 1.006);
  the straight line between the minima passes near the centre, where f is about 8.7. Tests find
  its stationary points by minimisation and root finding rather than quoting them.

The stationary points below are quoted to the digits given in the literature, e.g. for Mueller-Brown
the values tabulated by Bonfanti and Kob (J. Chem. Phys. 147, 204104 (2017)); tests re-derive each
by a Newton solve on the gradient.
"""

from __future__ import annotations

import numpy as np

MB_A = np.array([-200.0, -100.0, -170.0, 15.0])
MB_a = np.array([-1.0, -1.0, -6.5, 0.7])
MB_b = np.array([0.0, 0.0, 11.0, 0.6])
MB_c = np.array([-10.0, -10.0, -6.5, 0.7])
MB_x0 = np.array([1.0, 0.0, -0.5, -1.0])
MB_y0 = np.array([0.0, 0.5, 1.5, 1.0])

MUELLER_BROWN = {
    "minima": {
        "A": ((-0.55822, 1.44173), -146.69951),
        "B": ((0.62350, 0.02804), -108.16672),
        "C": ((-0.05001, 0.46669), -80.76782),
    },
    "saddles": {"S1": ((-0.82200, 0.62431), -40.66484), "S2": ((0.21249, 0.29299), -72.24894)},
}

HIMMELBLAU = {
    "minima": {
        "A": ((3.0, 2.0), 0.0),
        "B": ((3.584428, -1.848126), 0.0),
        "C": ((-2.805118, 3.131312), 0.0),
        "D": ((-3.779310, -3.283186), 0.0),
    },
    "saddles": {"AB": ((3.385154, 0.073852), 13.31193)},  # value recomputed at the cited point
}


WOLFE_QUAPP = {
    "minima": {
        "A": ((-1.174056, 1.477087), -6.762453),
        "B": ((1.124102, -1.485274), -6.368957),
        "C": ((-0.821908, -1.366730), -4.137203),
    },
    "saddles": {
        "AC": ((-1.022244, -0.116062), -1.251312),
        "CB": ((-0.303211, -1.401338), -3.980303),
        "AB": ((0.940969, 0.131252), -0.636564),
    },
}


def mueller_brown(theta):
    """The Mueller-Brown potential (Mueller and Brown 1979): three minima, two saddles.

    Args:
        theta: [B, 2] points (a TensorFlow tensor).

    Returns:
        [B] values.
    """
    import tensorflow as tf

    x, y = theta[:, 0:1], theta[:, 1:2]
    c = lambda v: tf.constant(v, theta.dtype)
    dx, dy = x - c(MB_x0), y - c(MB_y0)
    return tf.reduce_sum(
        c(MB_A) * tf.exp(c(MB_a) * dx**2 + c(MB_b) * dx * dy + c(MB_c) * dy**2), axis=1
    )


def himmelblau(theta):
    """Himmelblau's function (x^2 + y - 11)^2 + (x + y^2 - 7)^2: four minima of value 0.

    Args:
        theta: [B, 2] points (a TensorFlow tensor).

    Returns:
        [B] values.
    """
    x, y = theta[:, 0], theta[:, 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def wolfe_quapp(theta):
    """The Wolfe-Quapp surface x^4 + y^4 - 2x^2 - 4y^2 + xy + 0.3x + 0.1y.

    Args:
        theta: [B, 2] points (a TensorFlow tensor).

    Returns:
        [B] values.
    """
    x, y = theta[:, 0], theta[:, 1]
    return x**4 + y**4 - 2 * x**2 - 4 * y**2 + x * y + 0.3 * x + 0.1 * y


def tilted_ring(theta):
    """The tilted ring valley 10 (x^2 + y^2 - 1)^2 - x^2 - y / 2: two minima over one saddle.

    Args:
        theta: [B, 2] points (a TensorFlow tensor).

    Returns:
        [B] values.
    """
    x, y = theta[:, 0], theta[:, 1]
    return 10 * (x**2 + y**2 - 1) ** 2 - x**2 - 0.5 * y
