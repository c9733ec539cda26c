"""The feed-forward ELU network family of Bosman, Engelbrecht and Helbig, on flat parameter vectors.

A network with ``depth`` hidden layers of ``width`` ELU units (or tanh units, ``activation="tanh"``, the
networks of Mehta, Zhao, Bernal and Wales 2018) maps ``n_inputs`` to ``n_outputs``
logits (one for a binary problem, read through a sigmoid; one per class otherwise, read through a
softmax). Its parameters are one flat vector of length

    D = sum over layers of (fan_in + 1) * fan_out

laid out layer by layer, input side first, each layer as its weight matrix [fan_in, fan_out] in
row-major order followed by its bias vector [fan_out]. XOR 2-2-1 has D = 9; MNIST 784-10-10 has
D = 7960.

Everything here is batched over parameter vectors: ``theta`` is [B, D] and the forward pass evaluates
B networks at once. With inputs shared by all B networks ([N, n_inputs]) the first layer is one GEMM,
[N, n_inputs] x [n_inputs, width * B], read without a copy from the feature-major layout [D, B];
with per-network inputs ([B, N, n_inputs]) it is a batched matmul.

    >>> net = MLP(n_inputs=2, width=2, depth=1, n_outputs=1)
    >>> net.n_params
    9
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


ACTIVATIONS = ("elu", "tanh")  # ELU: Bosman et al.; tanh: Mehta, Zhao, Bernal and Wales (2018)


def with_ones(h):
    """h [..., n] with a column of ones appended: [..., n + 1]."""
    import tensorflow as tf

    return tf.concat([h, tf.ones_like(h[..., :1])], -1)


@dataclass(frozen=True)
class MLP:
    """Sizes of one architecture of the family; ``layers`` lists (fan_in, fan_out) per layer."""

    n_inputs: int
    width: int
    depth: int
    n_outputs: int
    activation: str = "elu"

    def __post_init__(self):
        for name in ("n_inputs", "width", "depth", "n_outputs"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")

    @property
    def layers(self) -> list[tuple[int, int]]:
        sizes = [self.n_inputs] + [self.width] * self.depth + [self.n_outputs]
        return list(zip(sizes[:-1], sizes[1:]))

    @property
    def n_params(self) -> int:
        return sum((fan_in + 1) * fan_out for fan_in, fan_out in self.layers)

    @property
    def name(self) -> str:
        """The customary label, e.g. ``2-2-1`` or ``784-10-10-10``; ``784-10x5-10`` beyond three hidden layers."""
        suffix = "" if self.activation == "elu" else f"-{self.activation}"
        if self.depth > 3:
            return f"{self.n_inputs}-{self.width}x{self.depth}-{self.n_outputs}{suffix}"
        return "-".join(str(s) for s in [self.n_inputs] + [self.width] * self.depth + [self.n_outputs]) + suffix

    def slices(self) -> list[tuple[slice, slice]]:
        """Per layer, the slices of the flat vector holding its weights and its bias."""
        out, offset = [], 0
        for fan_in, fan_out in self.layers:
            w = slice(offset, offset + fan_in * fan_out)
            offset = w.stop
            b = slice(offset, offset + fan_out)
            offset = b.stop
            out.append((w, b))
        return out

    def logits(self, theta, x, feature_major: bool = False):
        """Logits [B, N, n_outputs] of B networks on patterns x.

        theta is [B, D], or [D, B] with ``feature_major`` (the layout the walk loop keeps, in which
        the first-layer weights of all B networks are one contiguous [n_inputs + 1, fan_out * B]
        block), or, feature-major, the per-layer blocks of :meth:`split` (a walk's state).
        x is [N, n_inputs], shared by all B networks, or [B, N, n_inputs], one set each. Hidden
        layers use ELU (alpha = 1); the output layer is linear, so that losses are taken from
        logits and stay finite far from the origin.

        Each layer is one product of its inputs with a ones column appended and its weights with
        the bias as their last row (which is how the flat vector lays them out), so the bias
        gradient is summed inside the same matrix product as the weight gradient: the same sums
        for a walk whatever other walks are computed with it (tests/test_walk_identity.py).
        """
        import tensorflow as tf

        if isinstance(theta, (tuple, list)):
            blocks, feature_major = list(theta), True
        else:
            blocks = self.split(theta, feature_major)
        x = tf.convert_to_tensor(x, blocks[0].dtype)
        if x.shape.rank == 2:
            if not feature_major:
                blocks = [tf.transpose(b) for b in blocks]
            h, feature_major, first = self._first_layer_shared(blocks[0], x), True, 1
        else:
            h, first = x, 0
        act = tf.nn.elu if self.activation == "elu" else tf.tanh
        for k in range(first, len(self.layers)):
            inputs = act(h) if k else h
            h = tf.matmul(with_ones(inputs), self.layer_weights(blocks[k], k, feature_major))
        return h

    def split(self, theta, feature_major: bool = False) -> list:
        """theta [B, D] (or [D, B] with ``feature_major``) as one block per layer, its weights
        followed by its bias: [B, (fan_in + 1) * fan_out] (or transposed)."""
        blocks = []
        for w, b in self.slices():
            blocks.append(theta[w.start:b.stop] if feature_major else theta[:, w.start:b.stop])
        return blocks

    def layer_weights(self, block, k: int, feature_major: bool):
        """Layer k's weights with its bias as the last row, [B, fan_in + 1, fan_out], from its block."""
        import tensorflow as tf

        fan_in, fan_out = self.layers[k]
        if feature_major:
            return tf.transpose(tf.reshape(block, [fan_in + 1, fan_out, -1]), [2, 0, 1])
        return tf.reshape(block, [-1, fan_in + 1, fan_out])

    def _first_layer_shared(self, block, x):
        """Inputs shared by all networks: the first layer is one GEMM [N, in + 1] x [in + 1, out * B]
        with the feature-major first block read as [in + 1, out * B] without a copy."""
        import tensorflow as tf

        batch = tf.shape(block)[1]
        fan_in, fan_out = self.layers[0]
        z = tf.matmul(with_ones(x), tf.reshape(block, [fan_in + 1, fan_out * batch]))
        return tf.transpose(tf.reshape(z, [-1, fan_out, batch]), [2, 0, 1])  # [B, N, out]

    def initial_points(self, rng: np.random.Generator, n: int, bound: float) -> np.ndarray:
        """n points drawn uniformly from [-bound, bound]^D, float32 [n, D]."""
        return rng.uniform(-bound, bound, size=(n, self.n_params)).astype(np.float32)
