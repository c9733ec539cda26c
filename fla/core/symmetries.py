"""A network's symmetries: the exact null directions of its Hessian that the architecture and the
patterns force at every point, whatever the loss surface does.

Three kinds, each provable from the network's form (``fla.core.networks.MLP``) alone; none
depends on the loss (cross-entropy or squared error) or on the point being stationary:

- ``softmax``: a softmax over C > 1 classes is unchanged when one vector u is added to every
  class's incoming weights and one number t to every class's bias (z_c -> z_c + u . h + t), so
  each alive unit of the last hidden layer and the bias give a direction: H + 1 with H alive
  units. A single sigmoid output has none.
- ``dead_units``: a ReLU unit whose pre-activation is <= 0 on every pattern passes nothing and no
  gradient (fla takes sigma'(0) = 0, sigma'' = 0), so its incoming weights and bias and its
  outgoing weights are coordinate directions of zero gradient and zero curvature. Leaky ReLU,
  ELU, tanh, sigmoid and SiLU units are never constant, so never dead in this sense.
- ``input_span``: the first layer sees its weights only through h^_0 = [x; 1]: any u with
  [X, 1] u = 0 (for the patterns X the loss is taken on) moves no first-layer pre-activation on
  any pattern, so u in an alive first-layer unit's incoming weights is a null direction; there
  are nullity([X, 1]) a unit. A batch of 100 MNIST images (785 inputs with the bias) leaves at
  least 685 a unit; XOR's four patterns and iris's 120 leave none. A later layer's inputs depend
  on earlier weights, so their span gives no exact null direction.

The three sets lie on disjoint coordinates (the first layer's alive columns; dead units'
coordinates; the output layer's alive rows and bias row), so their dimensions add:
``null_directions`` counts them and ``projector`` removes them from a vector (an orthogonal
projection, block by block). A rescaling symmetry (ReLU's positive homogeneity) is a curve, not a
line, and gives a null direction only at a stationary point: not counted.

    >>> counts = null_directions(network, theta, x)   # theta [B, D], x [N, n_in] or [B, N, n_in]
    >>> counts["total"]                               # [B]
"""

from __future__ import annotations

import numpy as np

KINDS = ("softmax", "dead_units", "input_span")


def dead_units(network, theta: np.ndarray, x) -> list[np.ndarray]:
    """Per hidden layer, the ReLU units whose pre-activation is <= 0 on every pattern (all False for
    other activations, which are never constant).

    Args:
        network: the ``fla.core.networks.MLP``.
        theta: [B, D] parameters.
        x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set each (those the Hessian
            is taken on).

    Returns:
        [[B, units] bool] one array per hidden layer.
    """
    import tensorflow as tf

    theta = np.atleast_2d(theta)
    shape = (len(theta), network.width)
    if network.activation != "relu":
        return [np.zeros(shape, bool) for _ in range(network.depth)]
    hidden: list = []
    network.logits(tf.constant(theta), tf.constant(x, theta.dtype), hidden)
    return [(h.numpy() <= 0).all(axis=0).T for h in hidden]  # each [N, units, B] -> [B, units]


def input_basis(x: np.ndarray) -> tuple[np.ndarray, int]:
    """An orthonormal basis of the row space of [X, 1] (what the first layer sees of its weights)
    and the nullity, by SVD in float64 with numpy's rank tolerance.

    Args:
        x: [N, n_in] patterns.

    Returns:
        (basis [n_in + 1, r], nullity n_in + 1 - r).
    """
    inputs = np.concatenate([np.asarray(x, np.float64), np.ones((len(x), 1))], axis=1)
    if not np.isfinite(inputs).all():  # no span to speak of (the Hessians are not finite either)
        return np.eye(inputs.shape[1]), 0
    _, s, vt = np.linalg.svd(inputs, full_matrices=False)
    rank = int((s > s.max(initial=0.0) * max(inputs.shape) * np.finfo(np.float64).eps).sum())
    return vt[:rank].T, inputs.shape[1] - rank


def input_bases(x) -> list[tuple[np.ndarray, int]]:
    """``input_basis`` of shared patterns or of each point's own.

    Args:
        x: [N, n_in] (one entry) or [B, N, n_in] (one entry a point).

    Returns:
        [(basis, nullity)].
    """
    x = np.asarray(x)
    return [input_basis(x)] if x.ndim == 2 else [input_basis(p) for p in x]


def dead_mask(network, dead: list[np.ndarray]) -> np.ndarray:
    """The coordinates of dead units: their incoming weights and bias, and their outgoing weights.

    Args:
        network: the ``fla.core.networks.MLP``.
        dead: ``dead_units``' arrays.

    Returns:
        [B, D] bool.
    """
    batch = len(dead[0]) if dead else 0
    mask = np.zeros((batch, network.n_params), bool)
    slices = network.slices()
    for k, units in enumerate(dead):  # hidden layer k: incoming layer k, outgoing layer k + 1
        fan_in, fan_out = network.layers[k]
        w, b = slices[k]
        incoming = np.zeros((batch, fan_in + 1, fan_out), bool)
        incoming[:, :, :] = units[:, None, :]
        mask[:, w.start : b.stop] |= incoming.reshape(batch, -1)
        fan_in, fan_out = network.layers[k + 1]
        w, b = slices[k + 1]
        outgoing = np.zeros((batch, fan_in + 1, fan_out), bool)
        outgoing[:, :-1, :] = units[:, :, None]  # the rows of the dead units, not the bias row
        mask[:, w.start : b.stop] |= outgoing.reshape(batch, -1)
    return mask


def null_directions(network, theta: np.ndarray, x) -> dict:
    """The number of exact null directions of the Hessian at each point (module docstring).

    Args:
        network: the ``fla.core.networks.MLP``.
        theta: [B, D] parameters.
        x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set each (those the Hessian
            is taken on).

    Returns:
        {"softmax", "dead_units", "input_span", "total"}: [B] int each.
    """
    theta = np.atleast_2d(theta)
    dead = dead_units(network, theta, x)
    counts = {"dead_units": dead_mask(network, dead).sum(axis=1)}
    nullity = np.array([nullity for _, nullity in input_bases(x)])
    counts["input_span"] = nullity * (~dead[0]).sum(axis=1)
    softmax = network.n_outputs > 1
    counts["softmax"] = softmax * ((~dead[-1]).sum(axis=1) + 1)
    counts["total"] = sum(counts[kind] for kind in KINDS)
    return {key: value.astype(np.int64) for key, value in counts.items()}


def projector(network, theta: np.ndarray, x):
    """The orthogonal projection onto the complement of every null direction (float64), for Lanczos
    on the reduced Hessian.

    Args:
        network: the ``fla.core.networks.MLP``.
        theta: [B, D] parameters.
        x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set each (those the Hessian
            is taken on).

    Returns:
        A function v [B, D] -> v [B, D] with its components along the null directions removed.
    """
    theta = np.atleast_2d(theta)
    dead = dead_units(network, theta, x)
    mask = dead_mask(network, dead)
    bases = [basis for basis, _ in input_bases(x)]
    (w1, b1), (wl, bl) = network.slices()[0], network.slices()[-1]
    first_shape = (network.layers[0][0] + 1, network.layers[0][1])
    last_shape = (network.layers[-1][0] + 1, network.layers[-1][1])
    alive_last = np.concatenate([~dead[-1], np.ones((len(theta), 1), bool)], axis=1)

    def project(v: np.ndarray) -> np.ndarray:
        """v [B, D] (or, for one point, any number of rows) projected."""
        v = np.array(v, np.float64)
        n = len(v)
        first = v[:, w1.start : b1.stop].reshape((n,) + first_shape)
        if len(bases) == 1:
            first = np.einsum("jr,rk,bko->bjo", bases[0], bases[0].T, first)
        else:
            first = np.stack([q @ (q.T @ f) for q, f in zip(bases, first)])
        v[:, w1.start : b1.stop] = first.reshape(n, -1)
        if network.n_outputs > 1:
            last = v[:, wl.start : bl.stop].reshape((n,) + last_shape)
            last -= alive_last[:, :, None] * last.mean(axis=2, keepdims=True)
            v[:, wl.start : bl.stop] = last.reshape(n, -1)
        v[np.broadcast_to(mask, v.shape)] = 0.0
        return v

    return project


def null_basis(network, theta: np.ndarray, x) -> np.ndarray:
    """An orthonormal basis of one point's null directions, built explicitly: for tests and small
    networks (D^2 memory).

    Args:
        network: the ``fla.core.networks.MLP``.
        theta: [D] parameters.
        x: [N, n_in] patterns.

    Returns:
        [D, k] the basis, k = ``null_directions``' total.
    """
    d = network.n_params
    project = projector(network, theta[None], x)
    complement = project(np.eye(d))  # P e_i row by row: P is symmetric
    null = np.eye(d) - complement
    u, s, _ = np.linalg.svd(null)
    return u[:, s > 0.5]
