"""The CIFAR zoo's ResNets compared up to their permutation symmetry: Git Re-Basin's weight
matching (Ainsworth, Hayase and Srinivasa, ICLR 2023, Sec. 3.2 and their Algorithm 1) over the
channels of ``fla.zoo.models.resnet``.

Which channels may be relabelled together (a *permutation spec*, their Sec. 3.2 and Appendix):

- every block's inner channels (``conv1``'s filters, ``bn1``, ``conv2``'s input channels): a
  group of its own;
- the residual stream: every convolution that writes into it (``conv0``, each block's ``conv2``)
  and the BatchNorm after it share one permutation per stage, since the identity shortcuts add the
  stream to itself;
- option A shortcuts (zero-padded, He et al. Sec. 4.2) join the stages: a stage's stream is the
  previous stage's channels, in the middle, and the padded channels on both sides. The middle
  channels keep the previous stage's permutation; the padded channels (zero on the shortcut) are a
  group of their own, free to permute among themselves;
- the classifier's input rows follow the last stage's stream.

BatchNorm's scale and offset, and its moving mean and variance where given, are permuted with
their channels, so a relabelled network computes the same function in training and in inference
mode (tested on outputs). Weight matching maximises sum_v <W_v^A, pi(W_v^B)> over the groups'
permutations, one group at a time with the others fixed (a linear assignment, solved exactly by
``scipy.optimize.linear_sum_assignment``), until a sweep changes none. It starts with one sweep in
the network's order on the terms whose other channels are already matched (the inputs first), as
``fla.paths.alignment.weight_matching`` does for MLPs.

Weights are dictionaries {variable path: array} (``named``, keys as Keras names them:
``"s0b1_conv2/kernel"``).

    >>> spec = resnet_spec(model)
    >>> found = weight_matching(spec, named(model, a), named(model, b))
    >>> b_aligned = flat(model, apply(spec, found, named(model, b)))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fla.paths.alignment import MAX_SWEEPS, assign

BLOCK = re.compile(r"s(\d+)b(\d+)_conv1")


@dataclass(frozen=True)
class PermutationSpec:
    """``axes[path]``: the channel space of each axis of a variable (None where it is fixed);
    ``spaces[name]``: per channel of that space, the (group, unit) it belongs to; ``groups``: the
    groups in the order weight matching first visits them."""

    axes: dict
    spaces: dict
    groups: tuple

    def where(self, space: str, group: str) -> np.ndarray:
        """Where a group's units lie in one channel space.

        Args:
            space: the channel space.
            group: the permutation group.

        Returns:
            [units] the channels, by unit.
        """
        owners = self.spaces[space]
        found = {u: c for c, (g, u) in enumerate(owners) if g == group}
        return np.array([found[u] for u in sorted(found)], dtype=np.int64)

    def units(self, group: str) -> int:
        """How many units a group permutes.

        Args:
            group: the permutation group.

        Returns:
            Its units.
        """
        return max(u for owners in self.spaces.values() for g, u in owners if g == group) + 1


def resnet_spec(model) -> PermutationSpec:
    """The permutation spec of an ``fla.zoo.models.resnet`` (module docstring): each block's inner
    channels a group, the residual stream one group per stage, option A's padded channels a group.

    Args:
        model: the Keras ResNet.

    Returns:
        The ``PermutationSpec``.
    """
    names = {layer.name for layer in model.layers}
    blocks = sorted(tuple(map(int, m.groups())) for m in map(BLOCK.fullmatch, names) if m)
    if "conv0" not in names or not blocks:
        raise ValueError(f"{model.name} is not an fla ResNet (conv0, s<S>b<B>_conv1 layers)")
    width = {layer.name: layer.filters for layer in model.layers if hasattr(layer, "filters")}
    spaces = {"stream0": [("stream0", c) for c in range(width["conv0"])]}
    axes, groups = {}, ["stream0"]

    def conv(name, into, out):
        axes[f"{name}/kernel"] = (None, None, into, out)

    def batch_norm(name, space):
        for key in ("gamma", "beta", "moving_mean", "moving_variance"):
            axes[f"{name}/{key}"] = (space,)

    conv("conv0", None, "stream0")
    batch_norm("bn0", "stream0")
    stream = "stream0"
    for stage, block in blocks:
        tag, inner = f"s{stage}b{block}", f"inner_s{stage}b{block}"
        spaces[inner] = [(inner, c) for c in range(width[f"{tag}_conv1"])]
        groups.append(inner)
        conv(f"{tag}_conv1", stream, inner)
        batch_norm(f"{tag}_bn1", inner)
        output = f"stream{stage}"
        if output not in spaces:  # a new stage: the old stream in the middle, padded both sides
            old, new = spaces[stream], width[f"{tag}_conv2"]
            extra = new - len(old)
            pad = [(f"pad{stage}", u) for u in range(extra)]
            spaces[output] = pad[: extra // 2] + old + pad[extra // 2 :]
            groups.append(f"pad{stage}")
        conv(f"{tag}_conv2", inner, output)
        batch_norm(f"{tag}_bn2", output)
        stream = output
    axes["classifier/kernel"] = (stream, None)
    axes["classifier/bias"] = (None,)
    return PermutationSpec(axes, spaces, tuple(groups))


def named(model, theta=None, *, every: bool = False) -> dict:
    """A model's variables by path.

    Args:
        model: the Keras model.
        theta: [D] a flat vector in ``fla.zoo.objective`` order (default the model's own values).
        every: also the non-trainable variables (BatchNorm's moving statistics).

    Returns:
        {path: array}.
    """
    variables = list(model.trainable_variables)
    if theta is None:
        values = [v.numpy() for v in variables]
    else:
        sizes = np.cumsum([int(np.prod(v.shape)) for v in variables])[:-1]
        values = [p.reshape(v.shape) for p, v in zip(np.split(np.asarray(theta), sizes), variables)]
    out = {v.path: value for v, value in zip(variables, values)}
    if every:
        out.update({v.path: v.numpy() for v in model.non_trainable_variables})
    return out


def flat(model, weights: dict) -> np.ndarray:
    """The flat vector of named weights, in ``model.trainable_variables`` order.

    Args:
        model: the Keras model.
        weights: {path: array}.

    Returns:
        [D] float32.
    """
    return np.concatenate([np.ravel(weights[v.path]) for v in model.trainable_variables])


def gather(spec: PermutationSpec, perms: dict, space: str) -> np.ndarray:
    """The channels of B that move to each channel of a space.

    Args:
        spec: the ``PermutationSpec``.
        perms: {group: perm}.
        space: the channel space.

    Returns:
        [channels] indices.
    """
    index = np.arange(len(spec.spaces[space]))
    for group in {g for g, _ in spec.spaces[space]}:
        where = spec.where(space, group)
        index[where] = where[perms[group]]
    return index


def apply(spec: PermutationSpec, perms: dict, weights: dict, *, skip=None) -> dict:
    """Weights relabelled by a permutation of every group: the same function.

    Args:
        spec: the ``PermutationSpec``.
        perms: {group: perm}, perm[j] the unit of B that takes unit j's place.
        weights: {path: array} of B.
        skip: (path, axis): leave one axis as it is.

    Returns:
        {path: array} relabelled.
    """
    out = {}
    for path, value in weights.items():
        for axis, space in enumerate(spec.axes.get(path, ())):
            if space is not None and (path, axis) != skip:
                value = np.take(value, gather(spec, perms, space), axis=axis)
        out[path] = value
    return out


def identity(spec: PermutationSpec) -> dict:
    """The relabelling that moves nothing.

    Args:
        spec: the ``PermutationSpec``.

    Returns:
        {group: arange(units)}.
    """
    return {g: np.arange(spec.units(g)) for g in spec.groups}


def similarity(spec, perms, a: dict, *, b: dict, group: str, matched=None) -> np.ndarray:
    """S[j, k] = sum over the axes holding ``group`` of <unit j of A, unit k of B>, with every other
    axis of B relabelled by ``perms`` (Ainsworth et al. 2023, Eq. 2's linear term).

    Args:
        spec: the ``PermutationSpec``.
        perms: {group: perm} so far.
        a: {path: array} of A.
        b: {path: array} of B.
        group: the group assigned.
        matched: the groups already matched (the start): only the variables whose other axes belong
            to them count.

    Returns:
        [units, units] S.
    """
    n = spec.units(group)
    total = np.zeros((n, n))
    for path, spaces in spec.axes.items():
        if path not in a:
            continue
        for axis, space in enumerate(spaces):
            if space is None or group not in {g for g, _ in spec.spaces[space]}:
                continue
            others = [s for i, s in enumerate(spaces) if i != axis and s is not None]
            if matched is not None and any(
                g not in matched for s in others for g, _ in spec.spaces[s]
            ):
                continue
            moved = apply(spec, perms, {path: b[path]}, skip=(path, axis))[path]
            where = spec.where(space, group)
            left = np.moveaxis(np.take(a[path], where, axis=axis), axis, 0).reshape(n, -1)
            right = np.moveaxis(np.take(moved, where, axis=axis), axis, 0).reshape(n, -1)
            total += left.astype(np.float64) @ right.astype(np.float64).T
    return total


def weight_matching(spec: PermutationSpec, a: dict, b: dict, *, seed: int = 0) -> dict:
    """Git Re-Basin's weight matching (Ainsworth et al. 2023, Algorithm 1; module docstring): one
    linear assignment per group until a sweep changes none.

    Args:
        spec: the ``PermutationSpec``.
        a: {path: array} of A.
        b: {path: array} of B.
        seed: the seed of the order each sweep visits the groups in.

    Returns:
        {group: perm} relabelling B's weights closest to A's.
    """
    perms = identity(spec)
    matched = set()
    for group in spec.groups:  # the start: in the network's order, matched terms only
        perms[group] = assign(similarity(spec, perms, a, b=b, group=group, matched=matched), False)[
            0
        ]
        matched.add(group)
    rng = np.random.default_rng(seed)
    for _ in range(MAX_SWEEPS):
        changed = False
        for i in rng.permutation(len(spec.groups)):
            group = spec.groups[i]
            perm = assign(similarity(spec, perms, a, b=b, group=group), False)[0]
            if not np.array_equal(perm, perms[group]):
                perms[group], changed = perm, True
        if not changed:
            break
    return perms


def is_identity(perms: dict) -> bool:
    """Whether a relabelling moves nothing.

    Args:
        perms: {group: perm}.

    Returns:
        True for the identity.
    """
    return all(np.array_equal(p, np.arange(len(p))) for p in perms.values())
