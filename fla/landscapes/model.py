"""The networks of Mehta, Zhao, Bernal and Wales, "Loss surface of XOR artificial neural networks",
Phys. Rev. E 97, 052307 (2018), and what the landscape tools need to know of them.

The model (their Sec. II): a 2-N_h-2 network with tanh hidden units and a two-way softmax output on
the four XOR patterns, with the loss of their Eq. (3): the mean cross-entropy plus lambda |theta|^2
over *all* parameters. For lambda > 0 the minima are isolated up to the network's discrete
symmetries (``canonical_tanh``): permutations of hidden units, and for each unit the sign flip
of its incoming weights, bias and outgoing weights (tanh is odd).

    >>> f = objective(hidden=3, l2=1e-2)          # Eq. (3), float64
    >>> canonical_tanh(mehta_network(3), theta)   # one representative of 2^N_h N_h! copies
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fla.core.networks import MLP
from fla.paths.minima import canonical

# a hidden unit is connected when its incoming and outgoing weights both exceed this

UNIT_TOL = 1e-3


def xor_two_way():
    """XOR with the two-way softmax output of Mehta et al. (classes 0 and 1, 2 outputs).

    Returns:
        The ``fla.core.problems.Problem``.
    """
    from fla.core.problems import xor

    return dataclasses.replace(xor(), name="xor", n_outputs=2, kind="multiclass")


def mehta_network(hidden: int) -> MLP:
    """Mehta et al.'s 2-N_h-2 network: tanh hidden units, a two-way softmax output.

    Args:
        hidden: N_h.

    Returns:
        The ``MLP``.
    """
    return MLP(2, hidden, 1, 2, activation="tanh")


def objective(hidden: int, l2: float):
    """The loss of Mehta et al.'s Eq. (3) for a 2-N_h-2 tanh network on XOR, in float64: the mean
    cross-entropy plus lambda |theta|^2.

    Args:
        hidden: N_h.
        l2: lambda.

    Returns:
        The float64 ``fla.core.objective.Objective``.
    """
    import tensorflow as tf

    from fla.core.objective import Objective

    return Objective(mehta_network(hidden), xor_two_way(), tf.float64, l2=l2)


def canonical_tanh(network: MLP, theta: np.ndarray) -> np.ndarray:
    """One representative of the 2^N_h N_h! equivalent parameter vectors: every hidden unit's sign
    fixed (bias >= 0; a zero bias takes the sign of the first non-zero incoming weight) and the
    units sorted by bias.

    Args:
        network: the 2-N_h-2 tanh ``MLP`` (``mehta_network``).
        theta: [B, D] parameters.

    Returns:
        [B, D] the canonical forms.
    """
    theta = np.array(theta, np.float64, copy=True)
    slices, layers = network.slices(), network.layers
    for k in range(len(layers) - 1):
        (w, b), (fan_in, fan_out) = slices[k], layers[k]
        (w_next, _), (_, next_out) = slices[k + 1], layers[k + 1]
        weights = theta[:, w].reshape(-1, fan_in, fan_out)
        key = theta[:, b].copy()
        for i in range(fan_in):  # a zero bias: the first non-zero incoming weight decides
            key = np.where(key == 0, weights[:, i, :], key)
        sign = np.where(key < 0, -1.0, 1.0)
        theta[:, w] = (weights * sign[:, None, :]).reshape(len(theta), -1)
        theta[:, b] *= sign
        following = theta[:, w_next].reshape(-1, fan_out, next_out)
        theta[:, w_next] = (following * sign[:, :, None]).reshape(len(theta), -1)
    return canonical(network, theta)


def units(network: MLP, theta: np.ndarray) -> np.ndarray:
    """Each hidden unit's incoming weights, bias and outgoing weights (one hidden layer).

    Args:
        network: the 2-N_h-2 tanh ``MLP`` (``mehta_network``).
        theta: [D] parameters.

    Returns:
        [N_h, n_in + 1 + n_out] one row a unit.
    """
    (w, b), (w2, _) = network.slices()[:2]
    (fan_in, hidden), (_, out) = network.layers[:2]
    return np.concatenate(
        [theta[w].reshape(fan_in, hidden).T, theta[b][:, None], theta[w2].reshape(hidden, out)],
        axis=1,
    )


def with_units(network: MLP, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """theta with its hidden units replaced (the inverse of ``units``).

    Args:
        network: the 2-N_h-2 tanh ``MLP`` (``mehta_network``).
        theta: [D] parameters.
        rows: [N_h, n_in + 1 + n_out] the units.

    Returns:
        [D] parameters.
    """
    (w, b), (w2, _) = network.slices()[:2]
    (fan_in, hidden), (_, out) = network.layers[:2]
    theta = np.array(theta, np.float64, copy=True)
    theta[w] = rows[:, :fan_in].T.ravel()
    theta[b] = rows[:, fan_in]
    theta[w2] = rows[:, fan_in + 1 :].ravel()
    return theta


def padded(theta: np.ndarray, hidden: int) -> np.ndarray:
    """Minima of the 2-(N_h - 1)-2 network as points of the 2-N_h-2 network, with one more hidden
    unit whose weights, bias and outgoing weights are zero: stationary points of the larger network
    (Mehta et al., Appendix A), minima or saddles.

    Args:
        theta: [B, D'] minima of the smaller network.
        hidden: N_h of the larger one.

    Returns:
        [B, D] the padded points.
    """
    small, large = mehta_network(hidden - 1), mehta_network(hidden)
    out = []
    for row in np.atleast_2d(theta):
        rows = np.concatenate([units(small, row), np.zeros((1, 2 + 1 + 2))])
        out.append(with_units(large, np.zeros(large.n_params), rows))
        out[-1][-2:] = row[-2:]  # the output biases
    return np.array(out).reshape(-1, large.n_params)


def align(network: MLP, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The image of b under hidden-unit permutations and tanh sign flips closest to a (Euclidean):
    per pair of units the better sign, then the best permutation as a linear assignment problem
    (exact).

    Args:
        network: the 2-N_h-2 tanh ``MLP`` (``mehta_network``).
        a: [D] the reference.
        b: [D] the point moved.

    Returns:
        [D] b's closest equivalent copy.
    """
    from scipy.optimize import linear_sum_assignment

    ua, ub = units(network, a), units(network, b)
    plus = ((ua[:, None] - ub[None]) ** 2).sum(-1)
    minus = ((ua[:, None] + ub[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(np.minimum(plus, minus))
    signs = np.where(minus[rows, cols] < plus[rows, cols], -1.0, 1.0)
    return with_units(network, b, ub[cols] * signs[:, None])


def connected_units(network: MLP, theta: np.ndarray) -> np.ndarray:
    """The hidden units that take part: incoming and outgoing weights both of norm > ``UNIT_TOL``.

    Args:
        network: the 2-N_h-2 tanh ``MLP`` (``mehta_network``).
        theta: [B, D] parameters.

    Returns:
        [B] counts.
    """
    (w, _), (w2, _) = network.slices()[:2]
    (fan_in, hidden), (_, out) = network.layers[:2]
    incoming = np.linalg.norm(theta[:, w].reshape(-1, fan_in, hidden), axis=1)
    outgoing = np.linalg.norm(theta[:, w2].reshape(-1, hidden, out), axis=2)
    return ((incoming > UNIT_TOL) & (outgoing > UNIT_TOL)).sum(axis=1)


def auc(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The area under the ROC curve (Mann-Whitney, ties counted 1/2).

    Args:
        scores: [B, N] each network's scores.
        labels: [N] binary labels.

    Returns:
        [B] AUCs in [0, 1].
    """
    pos, neg = scores[:, labels == 1], scores[:, labels == 0]
    above, ties = pos[:, :, None] > neg[:, None, :], pos[:, :, None] == neg[:, None, :]
    return above.mean(axis=(1, 2)) + 0.5 * ties.mean(axis=(1, 2))


def probabilities(network, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(class 1) of each network: the softmax of its two outputs.

    Args:
        network: the network.
        params: [B, D] parameters.
        x: [N, 2] patterns.

    Returns:
        [B, N] probabilities.
    """
    import tensorflow as tf

    if not len(params):
        return np.zeros((0, len(x)))
    logits = network.logits(tf.constant(params, tf.float64), tf.constant(x, tf.float64)).numpy()
    return 1.0 / (1.0 + np.exp(logits[..., 0] - logits[..., 1]))
