"""The feed-forward ELU network family of Bosman, Engelbrecht and Helbig, on flat parameter vectors.

A network with ``depth`` hidden layers of ``width`` ELU units (or another of ``ACTIVATIONS``:
tanh, the units of Mehta, Zhao, Bernal and Wales 2018; sigmoid, ReLU, leaky ReLU, SiLU) maps
``n_inputs`` to ``n_outputs`` logits (one for a binary problem, read through a sigmoid; one per
class otherwise, read through a softmax). Its parameters are one flat vector of length

    D = sum over layers of (fan_in + 1) * fan_out

laid out layer by layer, input side first, each layer as its weight matrix [fan_in, fan_out] in
row-major order followed by its bias vector [fan_out]. XOR 2-2-1 has D = 9; MNIST 784-10-10 has
D = 7960.

Everything here is batched over parameter vectors: ``theta`` is [B, D] and the forward pass
evaluates B networks at once. With inputs shared by all B networks ([N, n_inputs]) the first layer
is one GEMM, [N, n_inputs] x [n_inputs, width * B], read without a copy from the feature-major
layout [D, B]; with per-network inputs ([B, N, n_inputs]) it is a batched matmul.

    >>> net = MLP(n_inputs=2, width=2, depth=1, n_outputs=1)
    >>> net.n_params
    9
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ELU: Bosman et al. (the default); tanh: Mehta, Zhao, Bernal and Wales (2018); sigmoid, ReLU,
# leaky ReLU and SiLU (swish): the activations of Bosman et al.'s later landscape studies and more
ACTIVATIONS = ("elu", "tanh", "sigmoid", "relu", "leaky_relu", "silu")
LEAKY_SLOPE = 0.01  # leaky ReLU's slope below zero (TensorFlow's default is 0.2; Maas et al. 0.01)


def with_ones(h):
    """h with a column of ones appended, the input the bias row multiplies.

    Args:
        h: [..., n] activations.

    Returns:
        [..., n + 1].
    """
    import tensorflow as tf

    return tf.concat([h, tf.ones_like(h[..., :1])], -1)


# a later layer with fan-in + 1 and fan-out up to this is computed elementwise across walks
ELEMENTWISE_MAX = 16


def dense_walks_last(a, w):
    """z[n, c, b] = sum_j a[n, j, b] w[j, c, b]: B small dense layers at once, the walks' axis b
    last.

    The products are elementwise across walks, which XLA vectorises along b: no transposes and no
    per-walk small matrix products. The weight gradient, a sum over the patterns, is
    ``sum_over_patterns``. Only for small layers (``ELEMENTWISE_MAX``): XLA:CPU's sums over more
    than about 32 terms are strided scalar loops, and inside a walk XLA fuses each layer's
    activation into its products and recomputes it for every output, so from about 20 units the
    per-walk matrix products win. ``python bench/bench_step_forms.py`` times both forms at the sizes
    this form serves (the later layers of the paper's XOR and iris networks, MNIST's 11 x 10) and at
    those it does not (21 x 20, 41 x 40).

    Args:
        a: [N, in, B] the layer's inputs, a ones column included.
        w: [in, out, B] its weights, the bias as the last row.

    Returns:
        [N, out, B] pre-activations.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def dense(a, w):
        def gradient(dz):
            return tf.reduce_sum(dz[:, None, :, :] * w[None], 2), sum_over_patterns(a, dz)

        return tf.reduce_sum(a[:, :, None, :] * w[None], 1), gradient

    return dense(a, w)


def sum_over_patterns(a, dz, chunk: int = 8):
    """dw[j, c, b] = sum_n a[n, j, b] dz[n, c, b]: a small layer's weight gradient, by a loop over
    the patterns ``chunk`` at a time accumulating [in, out, B] products in a fixed order (XLA:CPU
    turns the same sum written as one reduction over the patterns' axis into a strided scalar loop;
    ``python bench/bench_step_forms.py`` times both in the MNIST 784-10-10 step).

    Args:
        a: [N, in, B] the layer's inputs.
        dz: [N, out, B] the gradient at its pre-activations.
        chunk: patterns a product.

    Returns:
        [in, out, B] the weight gradient.
    """
    import tensorflow as tf

    n = a.shape[0]
    term = lambda k: a[k, :, None, :] * dz[k, None, :, :]
    if n <= 2 * chunk:  # a few patterns (XOR: 4): no loop
        return tf.add_n([term(k) for k in range(n)])

    def add_chunk(i, total):
        first = i * chunk
        return i + 1, total + tf.add_n([term(first + r) for r in range(chunk)])

    _, total = tf.while_loop(
        lambda i, _: i < n // chunk,
        add_chunk,
        (tf.constant(0), tf.zeros([a.shape[1], dz.shape[1], a.shape[2]], a.dtype)),
    )
    rest = [term(k) for k in range(n - n % chunk, n)]
    return total + tf.add_n(rest) if rest else total


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
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}"
            )

    @property
    def layers(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of every layer, the output layer last."""
        sizes = [self.n_inputs] + [self.width] * self.depth + [self.n_outputs]
        return list(zip(sizes[:-1], sizes[1:]))

    @property
    def n_params(self) -> int:
        """D, the number of weights and biases."""
        return sum((fan_in + 1) * fan_out for fan_in, fan_out in self.layers)

    @property
    def name(self) -> str:
        """The customary label, e.g. ``2-2-1`` or ``784-10-10-10``; ``784-10x5-10`` beyond three
        hidden layers."""
        suffix = "" if self.activation == "elu" else f"-{self.activation}"
        if self.depth > 3:
            return f"{self.n_inputs}-{self.width}x{self.depth}-{self.n_outputs}{suffix}"
        return (
            "-".join(str(s) for s in [self.n_inputs] + [self.width] * self.depth + [self.n_outputs])
            + suffix
        )

    def slices(self) -> list[tuple[slice, slice]]:
        """Per layer, the slices of the flat vector holding its weights and its bias.

        Returns:
            [(weights slice, bias slice)], the output layer last.
        """
        out, offset = [], 0
        for fan_in, fan_out in self.layers:
            w = slice(offset, offset + fan_in * fan_out)
            offset = w.stop
            b = slice(offset, offset + fan_out)
            offset = b.stop
            out.append((w, b))
        return out

    def logits(self, theta, x, hidden=None):
        """Logits of B networks on patterns.

        Each layer is one product of its inputs with a ones column appended and its weights with the
        bias as their last row (which is how the flat vector lays them out), so the bias gradient is
        summed inside the same matrix product as the weight gradient: the same sums for a walk
        whatever other walks are computed with it (tests/test_walk_identity.py). The output layer is
        linear, so that losses are taken from logits and stay finite far from the origin. (A walk
        keeps theta feature-major, [D, B], and is evaluated by ``first_layer_walks_last`` and
        ``later_layers_walks_last``.)

        Args:
            theta: [B, D] parameter vectors.
            x: [N, n_inputs] patterns shared by all B networks, or [B, N, n_inputs] one set each.
            hidden: a list that collects the hidden layers' pre-activations, each [N, units, B].

        Returns:
            [B, N, n_outputs] logits.
        """
        import tensorflow as tf

        blocks, feature_major = self.split(theta), False
        x = tf.convert_to_tensor(x, blocks[0].dtype)
        if x.shape.rank == 2:
            blocks = [tf.transpose(b) for b in blocks]
            h, feature_major, first = self._first_layer_shared(blocks[0], x), True, 1
        else:
            h, first = x, 0
        act = self.activation_fn
        for k in range(first, len(self.layers)):
            if k and hidden is not None:
                hidden.append(tf.transpose(h, [1, 2, 0]))
            inputs = act(h) if k else h
            h = tf.matmul(with_ones(inputs), self.layer_weights(blocks[k], k, feature_major))
        return h

    @property
    def activation_fn(self):
        """The hidden units' activation, a TensorFlow function (``ACTIVATIONS``)."""
        import tensorflow as tf

        return {
            "elu": tf.nn.elu,
            "tanh": tf.tanh,
            "sigmoid": tf.sigmoid,
            "relu": tf.nn.relu,
            # not tf.nn.leaky_relu: its slope is a float32 attribute, 0.01 rounded in float64
            "leaky_relu": lambda a: tf.where(a > 0, a, LEAKY_SLOPE * a),
            "silu": tf.nn.silu,
        }[self.activation]

    def blocks(self, theta) -> list:
        """The per-layer blocks of feature-major theta (``split``), or theta if it is them.

        Args:
            theta: [D, B] feature-major parameters, or their blocks.

        Returns:
            One [(fan_in + 1) * fan_out, B] block per layer.
        """
        return list(theta) if isinstance(theta, (tuple, list)) else self.split(theta, True)

    def first_layer_walks_last(self, block, x, x_aside=None):
        """The first layer's pre-activations on shared patterns: one GEMM [N, in + 1] x [in + 1,
        out * B] that reads the feature-major block as it lies and gives its result as it lies; in
        the backward pass the weight gradient [in + 1, N] x [N, out * B] comes out in the block's
        layout, with no transposes.

        Args:
            block: [(in + 1) * out, B] the first layer's feature-major block.
            x: [N, n_inputs] the patterns.
            x_aside: [M, n_inputs] a second batch (the walk's test batch), evaluated in the same
                GEMM (the block is read once); no gradient flows back from it.

        Returns:
            [N, out, B] pre-activations; with ``x_aside`` (those on x, those on x_aside [M, out,
                B]).
        """
        import tensorflow as tf

        fan_in, fan_out = self.layers[0]
        weights = tf.reshape(block, [fan_in + 1, -1])
        x = with_ones(tf.convert_to_tensor(x, block.dtype))
        as_layer = lambda z, n: tf.reshape(z, [n, fan_out, -1])
        if x_aside is None:
            return as_layer(tf.matmul(x, weights), tf.shape(x)[0])
        x_aside = with_ones(tf.convert_to_tensor(x_aside, block.dtype))
        n, m = tf.shape(x)[0], tf.shape(x_aside)[0]

        @tf.custom_gradient
        def both(weights):
            z = tf.matmul(tf.concat([x, x_aside], 0), weights)
            return (z[:n], z[n:]), lambda dz, _: tf.matmul(x, dz, transpose_a=True)

        z, z_aside = both(weights)
        return as_layer(z, n), as_layer(z_aside, m)

    def later_layers_walks_last(self, blocks, h, hidden=None):
        """Logits from the first layer's pre-activations. A small later layer (fan-in + 1 and
        fan-out up to ``ELEMENTWISE_MAX``) is ``dense_walks_last``; a larger one is B matrix
        products with the walks' axis first, [B, N, in + 1] x [B, in + 1, out]. The activations are
        transposed only where the form changes, so a run of wide layers (XOR 2-20-20-20-1) pays two
        transposes, not two a layer.

        Args:
            blocks: the per-layer feature-major blocks (``blocks``).
            h: [N, out, B] the first layer's pre-activations.
            hidden: a list that collects the hidden layers' pre-activations, each [N, units, B].

        Returns:
            [N, n_outputs, B] logits.
        """
        import tensorflow as tf

        walks_first = False
        for k in range(1, len(self.layers)):
            fan_in, fan_out = self.layers[k]
            if hidden is not None:
                hidden.append(tf.transpose(h, [1, 2, 0]) if walks_first else h)
            a = self.activation_fn(h)
            w = tf.reshape(blocks[k], [fan_in + 1, fan_out, -1])
            if max(fan_in + 1, fan_out) <= ELEMENTWISE_MAX:
                if walks_first:
                    a, walks_first = tf.transpose(a, [1, 2, 0]), False
                h = dense_walks_last(tf.concat([a, tf.ones_like(a[:, :1])], 1), w)
            else:
                if not walks_first:
                    a, walks_first = tf.transpose(a, [2, 0, 1]), True
                h = tf.matmul(with_ones(a), tf.transpose(w, [2, 0, 1]))  # [B, N, out]
        return tf.transpose(h, [1, 2, 0]) if walks_first else h

    def split(self, theta, feature_major: bool = False) -> list:
        """theta as one block per layer, its weights followed by its bias.

        Args:
            theta: [B, D], or [D, B] with ``feature_major``.
            feature_major: whether theta is feature-major.

        Returns:
            One [B, (fan_in + 1) * fan_out] block per layer (transposed with ``feature_major``).
        """
        blocks = []
        for w, b in self.slices():
            blocks.append(theta[w.start : b.stop] if feature_major else theta[:, w.start : b.stop])
        return blocks

    def layer_weights(self, block, k: int, feature_major: bool):
        """Layer k's weights with its bias as the last row, from its block.

        Args:
            block: the layer's block (``split``).
            k: the layer (0 the first).
            feature_major: whether the block is feature-major.

        Returns:
            [B, fan_in + 1, fan_out].
        """
        import tensorflow as tf

        fan_in, fan_out = self.layers[k]
        if feature_major:
            return tf.transpose(tf.reshape(block, [fan_in + 1, fan_out, -1]), [2, 0, 1])
        return tf.reshape(block, [-1, fan_in + 1, fan_out])

    def _first_layer_shared(self, block, x):
        """Inputs shared by all networks: the first layer is one GEMM [N, in + 1] x [in + 1, out *
        B] with the feature-major first block read as [in + 1, out * B] without a copy."""
        import tensorflow as tf

        batch = tf.shape(block)[1]
        fan_in, fan_out = self.layers[0]
        z = tf.matmul(with_ones(x), tf.reshape(block, [fan_in + 1, fan_out * batch]))
        return tf.transpose(tf.reshape(z, [-1, fan_out, batch]), [2, 0, 1])  # [B, N, out]
