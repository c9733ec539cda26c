"""Minima compared up to the networks' permutation symmetry: fla's MLPs of any depth.

Relabelling a hidden layer's units (its weight columns and bias, and the next layer's weight rows,
permuted alike) leaves a network's function unchanged, and so does negating a unit's incoming
weights, bias and outgoing weights when its activation is odd (tanh). Two minima may then lie
apart only by a relabelling, and a barrier between them mixes the surface's geometry with it
(Entezari et al., ICLR 2022, conjecture that after the right permutation the straight line has
no barrier). This module finds the relabelling of network B closest to network A:

- ``weight_matching``: Ainsworth, Hayase and Srinivasa (ICLR 2023, "Git Re-Basin"), Sec. 3.2:
  maximise sum_l <W_l^A, P_l W_l^B P_{l-1}^T> over the hidden layers' permutations P_l, one layer
  at a time with the others fixed (each a linear assignment problem, solved exactly by
  ``scipy.optimize.linear_sum_assignment``), the layers visited in a seeded random order, until a
  sweep changes none (their Algorithm 1). Biases count as one more incoming row. It starts from
  one sweep from the inputs on the incoming weights alone (each layer's assignment then rests on
  the layers below it, already matched): from the identity, a deep network's middle layers can
  settle on a wrong relabelling that no single layer's move improves.
- ``activation_matching``: their Sec. 3.1: per hidden layer, the permutation maximising
  sum_j <Z_j^A, Z_{pi(j)}^B> of the units' post-activations Z over stated patterns.

With odd activations each assignment also chooses each unit's sign: the similarity of unit j of A
and unit k of B is |S_jk|, the sign that of S_jk (a sign flip negates every term of S_jk).

    >>> found = weight_matching(network, a, b)
    >>> b_aligned = found.apply(network, b)       # the same function as b, closest to a
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fla.paths.record import straight_line

MAX_SWEEPS = 100  # of weight matching's coordinate ascent (it stops earlier at a fixed point)


@dataclass
class Relabelling:
    """Per hidden layer, ``perms[l][j]``: the unit of B that takes A's unit j's place, and
    ``signs[l][j]`` (+1 or -1) its sign flip."""

    perms: list
    signs: list

    @classmethod
    def identity(cls, network) -> "Relabelling":
        """The relabelling that moves nothing.

        Args:
            network: the ``fla.core.networks.MLP``.

        Returns:
            A ``Relabelling`` with every permutation the identity and every sign +1.
        """
        units = [fan_out for _, fan_out in network.layers[:-1]]
        return cls([np.arange(n) for n in units], [np.ones(n) for n in units])

    def apply(self, network, theta: np.ndarray) -> np.ndarray:
        """theta with every hidden layer relabelled: the same function (``fla.core.symmetries``).

        Args:
            network: the ``fla.core.networks.MLP``.
            theta: [D] or [B, D] parameters.

        Returns:
            The relabelled parameters, of theta's shape.
        """
        theta = np.array(theta, np.float64, copy=True)
        flat = theta.ndim == 1
        theta = np.atleast_2d(theta)
        slices, layers = network.slices(), network.layers
        for k, (perm, sign) in enumerate(zip(self.perms, self.signs)):
            (w, b), (fan_in, fan_out) = slices[k], layers[k]
            (w_next, _), (_, next_out) = slices[k + 1], layers[k + 1]
            weights = theta[:, w].reshape(-1, fan_in, fan_out)[:, :, perm] * sign
            theta[:, w] = weights.reshape(len(theta), -1)
            theta[:, b] = theta[:, b][:, perm] * sign
            following = theta[:, w_next].reshape(-1, fan_out, next_out)[:, perm] * sign[:, None]
            theta[:, w_next] = following.reshape(len(theta), -1)
        return theta[0] if flat else theta

    def is_identity(self) -> bool:
        """Whether the relabelling moves no unit and flips no sign.

        Returns:
            True for the identity.
        """
        return all(
            (p == np.arange(len(p))).all() and (s == 1).all()
            for p, s in zip(self.perms, self.signs)
        )


def odd(network) -> bool:
    """Whether the hidden activation is odd (tanh), so that a unit's sign may be flipped.

    Args:
        network: the ``fla.core.networks.MLP``.

    Returns:
        True for an odd activation.
    """
    return network.activation == "tanh"


def assign(similarity: np.ndarray, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """The linear assignment (scipy's ``linear_sum_assignment``) of units that maximises sum_j s_j
    S[j, perm[j]], with signs s_j = sign(S[j, perm[j]]) when ``signed`` (the assignment then runs on
    |S|), else +1.

    Args:
        similarity: [U, U] S, A's units by B's.
        signed: whether units may flip sign.

    Returns:
        (perm [U], signs [U]).
    """
    from scipy.optimize import linear_sum_assignment

    score = np.abs(similarity) if signed else similarity
    rows, cols = linear_sum_assignment(score, maximize=True)
    perm = cols[np.argsort(rows)]
    chosen = similarity[np.arange(len(perm)), perm]
    signs = np.where(signed & (chosen < 0), -1.0, 1.0)
    return perm, signs


def layer_blocks(network, theta: np.ndarray, k: int):
    """Layer k's weights as the matching compares them.

    Args:
        network: the ``fla.core.networks.MLP``.
        theta: [D] parameters.
        k: the hidden layer (0 the first).

    Returns:
        (incoming weights with the bias as a last row [fan_in + 1, units], outgoing weights [units,
            next units]).
    """
    (w, b), (fan_in, fan_out) = network.slices()[k], network.layers[k]
    (w_next, _), (_, next_out) = network.slices()[k + 1], network.layers[k + 1]
    incoming = np.vstack([theta[w].reshape(fan_in, fan_out), theta[b][None]])
    return incoming, theta[w_next].reshape(fan_out, next_out)


def weight_matching(
    network, a: np.ndarray, b: np.ndarray, *, signs: bool | None = None, seed: int = 0
) -> Relabelling:
    """The relabelling of B that maximises its weights' inner product with A's (Ainsworth et al.
    2023, Algorithm 1: coordinate ascent, one linear assignment per layer until no layer changes).

    Args:
        network: the ``fla.core.networks.MLP``.
        a: [D] the network matched to.
        b: [D] the network relabelled.
        signs: whether units may flip sign (default: the activation is odd).
        seed: the seed of the order in which each sweep visits the layers (the start goes layer by
            layer from the inputs, on incoming weights alone).

    Returns:
        The ``Relabelling`` of b.
    """
    signed = odd(network) if signs is None else signs
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    found = Relabelling.identity(network)
    hidden = len(found.perms)
    for k in range(hidden):  # the start: layer by layer from the inputs, incoming weights only
        found.perms[k], found.signs[k] = best_layer(
            network, a, b, found=found, k=k, signed=signed, outgoing=False
        )
    rng = np.random.default_rng(seed)
    for _ in range(MAX_SWEEPS):
        changed = False
        for k in rng.permutation(hidden):
            perm, sign = best_layer(network, a, b, found=found, k=k, signed=signed, outgoing=True)
            if not (np.array_equal(perm, found.perms[k]) and np.array_equal(sign, found.signs[k])):
                found.perms[k], found.signs[k], changed = perm, sign, True
        if not changed:
            break
    return found


def best_layer(network, a, b, *, found: Relabelling, k: int, signed: bool, outgoing: bool):
    """Layer k's best (perm, signs) with the other layers' fixed as ``found`` has them: the
    assignment of A's units to B's by incoming weights and bias, and by outgoing weights.

    Args:
        network: the ``fla.core.networks.MLP``.
        a: [D] the network matched to.
        b: [D] the network relabelled.
        found: the relabelling so far.
        k: the hidden layer.
        signed: whether units may flip sign.
        outgoing: whether the outgoing weights count too.

    Returns:
        (perm [U], signs [U]).
    """
    others = Relabelling(list(found.perms), list(found.signs))
    others.perms[k] = np.arange(len(found.perms[k]))
    others.signs[k] = np.ones(len(found.perms[k]))
    moved = others.apply(network, b)
    in_a, out_a = layer_blocks(network, a, k)
    in_b, out_b = layer_blocks(network, moved, k)
    similarity = in_a.T @ in_b + (out_a @ out_b.T if outgoing else 0.0)
    return assign(similarity, signed)


def activation_matching(
    network, a: np.ndarray, b: np.ndarray, *, x: np.ndarray, signs: bool | None = None
) -> Relabelling:
    """The relabelling of B whose units' post-activations on patterns best match A's (Ainsworth et
    al. 2023, Sec. 3.1: one linear assignment per layer of the inner products over the patterns).

    Args:
        network: the ``fla.core.networks.MLP``.
        a: [D] the network matched to.
        b: [D] the network relabelled.
        x: [N, n_in] the patterns.
        signs: whether units may flip sign (default: the activation is odd).

    Returns:
        The ``Relabelling`` of b.
    """
    import tensorflow as tf

    signed = odd(network) if signs is None else signs
    theta = tf.constant(np.stack([a, b]), tf.float64)
    pre = []
    network.logits(theta, tf.constant(x, tf.float64), pre)
    perms, flips = [], []
    for h in pre:  # [N, units, 2]
        z = network.activation_fn(h).numpy()
        perm, sign = assign(z[:, :, 0].T @ z[:, :, 1], signed)
        perms.append(perm)
        flips.append(sign)
    return Relabelling(perms, flips)


def weight_matched(network):
    """Weight matching as a function of two networks.

    Args:
        network: the ``fla.core.networks.MLP``.

    Returns:
        (a [D], b [D]) -> b relabelled by ``weight_matching`` towards a: the same function.
    """
    return lambda a, b: weight_matching(network, a, b).apply(network, b)


def mlp_matchings(network, x: np.ndarray) -> dict:
    """The matchings ``alignment_rows`` compares for fla's MLPs: weight matching, and activation
    matching on patterns x.

    Args:
        network: the ``fla.core.networks.MLP``.
        x: [N, n_in] the patterns.

    Returns:
        {column prefix: (a, b) -> b relabelled}.
    """
    return {
        "weight_matched_": weight_matched(network),
        "activation_matched_": lambda a, b: activation_matching(network, a, b, x=x).apply(
            network, b
        ),
    }


def alignment_rows(
    energy, minima: np.ndarray, *, pairs, matchings: dict, paths=None, methods=()
) -> dict:
    """The columns of alignment.parquet: per pair (a, b) of minima, the straight line
    (``fla.paths.record.straight_line``) as the minima stand and after each of ``matchings``
    relabels b towards a, with whether it moved b at all; and each method's path as found and,
    searched anew where the first matching moved b, between its matched endpoints.

    Args:
        energy: the ``fla.paths.surfaces.Energy`` of the loss.
        minima: [M, D] the minima.
        pairs: the pairs (a, b) of minima indices.
        matchings: {prefix: (a, b) -> b relabelled} (``mlp_matchings``).
        paths: {name: {(a, b): PathRecord}} the paths found between the minima as they stand.
        methods: the path methods (``fla.paths.methods``) to search anew.

    Returns:
        {column: values}, a row per pair: ``<prefix><name>_barrier``, ``_losses`` and ``_position``
            (dense losses against the fraction of the path's length) per path, ``_failed`` per
            search, the prefix empty for the endpoints as they stand.
    """
    from fla.paths.search import search

    rows: dict = {"a": [], "b": []}

    def add(key, value):
        rows.setdefault(key, []).append(value)

    def profile(key, path):
        add(key + "_barrier", path.barrier)
        add(key + "_losses", path.dense_losses.tolist())
        add(key + "_position", path.position.tolist())

    for a, b in pairs:
        add("a", a), add("b", b)
        profile("line", straight_line(energy, minima[a], minima[b]))
        add("distance", float(np.linalg.norm(minima[b] - minima[a])))
        for method in methods:
            profile(method.name, paths[method.name][(a, b)])
            add(method.name + "_failed", bool(paths[method.name][(a, b)].failed))
        for i, (prefix, match) in enumerate(matchings.items()):
            moved = match(minima[a], minima[b])
            relabelled = not np.array_equal(moved, minima[b])
            profile(prefix + "line", straight_line(energy, minima[a], moved))
            add(prefix + "distance", float(np.linalg.norm(moved - minima[a])))
            add(prefix + "relabelled", relabelled)
            for method in methods if i == 0 else ():
                found = paths[method.name][(a, b)]
                path = search(energy, method, minima[a], b=moved) if relabelled else found
                profile(prefix + method.name, path)
                add(f"{prefix}{method.name}_failed", bool(path.failed))
    return rows
