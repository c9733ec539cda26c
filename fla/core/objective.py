"""The batched objective at the centre of fla: a loss over flat parameter vectors.

    theta [B, D] -> loss [B], gradient [B, D], hvp(theta, v) [B, D], hessian [B, D, D]

The loss is the mean log-likelihood loss (cross-entropy) of the patterns, taken from logits:
sigmoid cross-entropy for binary problems, softmax cross-entropy for multi-class ones, so that it
stays finite for weights drawn from [-10, 10]. The B losses are independent, so the gradient of
their sum with respect to theta [B, D] is the B per-vector gradients (and the Jacobian of that
gradient taken per batch row would be the B Hessians, which :mod:`fla.core.exact_hessian` assembles
directly, layer by layer, several times faster).

The ``*_at`` methods take the patterns explicitly (x [N, n_in] shared by all B vectors, or
[B, N, n_in] one set per vector, with labels [N] or [B, N]); they are plain TensorFlow functions
meant to be inlined into compiled programs (the walk sampler, Lanczos, NEB). Calling the objective
on theta alone evaluates it on the whole training set, compiled, accepting numpy.

    >>> f = Objective(MLP(2, 2, 1, 1), xor())
    >>> f(np.zeros((3, 9), np.float32)).shape
    TensorShape([3])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.problems import Problem


def total(values):
    """Sum over the last axis, as a product with a ones vector.

    XLA vectorises a reduction over a short minor axis differently for different numbers of rows,
    so ``reduce_sum`` would make a walk's loss depend on how many walks are computed with it; a
    matrix-vector product sums every row the same way (checked in tests/test_walk_identity.py)."""
    return tf.linalg.matvec(values, tf.ones(tf.shape(values)[-1:], values.dtype))


def pattern_mean(values):
    """Mean over patterns of values [B, N] -> [B] (see :func:`total`)."""
    return total(values) / tf.cast(tf.shape(values)[-1], values.dtype)


def softmax_cross_entropy(logits, labels, axis: int = -1):
    """-log softmax(logits)[label] per pattern, from logits with the classes along ``axis`` and
    labels broadcastable against them without that axis: log-sum-exp with the maximum shifted out
    (finite for logits of any size). Over the last axis (logits [B, N, C], labels [B, N]) the sums
    are :func:`total`; over another (a walk's logits [N, C, B], labels [N, 1]) they run along that
    leading axis, elementwise across the walks' axis."""
    sums = total if axis == -1 else (lambda values: tf.reduce_sum(values, axis))
    peak = tf.stop_gradient(tf.reduce_max(logits, axis, keepdims=True))
    log_sum_exp = tf.squeeze(peak, axis) + tf.math.log(sums(tf.exp(logits - peak)))
    depth = logits.shape[axis] if logits.shape[axis] is not None else tf.shape(logits)[axis]
    return log_sum_exp - sums(logits * tf.one_hot(labels, depth, axis=axis, dtype=logits.dtype))


def run_network(cfg: dict, data_dir=None) -> tuple[MLP, Problem]:
    """The network and problem of a sampling run's configuration (its manifest's ``config``:
    problem, target, width, depth and, unless ELU, activation)."""
    from fla.core.registry import load_problem

    problem = load_problem(cfg["problem"], data_dir, cfg.get("target"))
    network = MLP(
        problem.n_inputs,
        cfg["width"],
        cfg["depth"],
        problem.n_outputs,
        cfg.get("activation", "elu"),
    )
    return network, problem


class Objective:
    """The loss of ``network`` on ``problem``; ``l2`` = lambda adds lambda |theta|^2 over all
    parameters, weights and biases alike (Mehta et al. 2018, Eq. 3). Accuracy is unaffected."""

    def __init__(self, network: MLP, problem: Problem, dtype=tf.float32, l2: float = 0.0):
        if not (isinstance(l2, (int, float)) and np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        self.l2 = float(l2)
        if network.n_inputs != problem.n_inputs or network.n_outputs != problem.n_outputs:
            raise ValueError(
                f"network {network.name} does not fit problem {problem.name} "
                f"({problem.n_inputs} inputs, {problem.n_outputs} outputs)"
            )
        self.network = network
        self.problem = problem
        self.dtype = dtype
        self.n_params = network.n_params
        self.x_train = tf.constant(problem.x_train, dtype)
        self.y_train = tf.constant(problem.y_train, tf.int32)
        # one trace for any batch size
        compile = lambda fn: tf.function(fn, reduce_retracing=True, autograph=False)
        self._full = compile(lambda theta: self.loss_at(theta, self.x_train, self.y_train))
        self._grad = compile(lambda theta: self.gradient_at(theta, self.x_train, self.y_train)[2])
        self._hess = compile(lambda theta: self.hessian_at(theta, self.x_train, self.y_train))
        self._hvp = compile(lambda theta, v: self.hvp_at(theta, v, self.x_train, self.y_train))
        self._hvp_on = compile(self.hvp_at)

    # -- the patterns given explicitly (inlined into compiled programs) --------------------------
    def loss_and_accuracy_at(self, theta, x, y):
        """Mean loss [B] and accuracy [B] of B parameter vectors theta [B, D] on patterns x, labels
        y (a walk's feature-major evaluation is :meth:`walk_values_at`)."""
        logits = self.network.logits(theta, x)
        batch = tf.shape(logits)[0]
        if self.problem.kind == "binary":
            z = logits[..., 0]
            labels = tf.cast(tf.broadcast_to(y, tf.shape(z)), z.dtype)
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z)
            correct = tf.equal(tf.cast(z > 0, z.dtype), labels)
        else:
            labels = tf.broadcast_to(y, [batch, tf.shape(logits)[1]])
            losses = softmax_cross_entropy(logits, labels)
            correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
        loss = self._with_l2(pattern_mean(losses), theta, False)
        return loss, pattern_mean(tf.cast(correct, logits.dtype))

    def _with_l2(self, loss, theta, feature_major):
        """loss + lambda |theta|^2 of theta [B, D] (or feature-major [D, B] or its per-layer
        blocks); without l2 the loss itself, so the walks' programs do not trace it."""
        if not self.l2:
            return loss
        blocks = theta if isinstance(theta, (tuple, list)) else [theta]
        squares = [b * b for b in blocks]
        return loss + self.l2 * tf.add_n(
            [total(tf.transpose(q)) if feature_major else total(q) for q in squares]
        )

    def _loss_and_accuracy_walks_last(self, z, y):
        """Mean loss and accuracy [B] from logits z [N, C, B] and labels y [N]: every sum, over
        classes and over patterns, runs along a leading axis, elementwise across the walks' axis (no
        transposes, no per-walk small products)."""
        if self.problem.kind == "binary":
            z = z[:, 0]
            labels = tf.broadcast_to(tf.cast(y, z.dtype)[:, None], tf.shape(z))
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z)
            correct = tf.equal(tf.cast(z > 0, z.dtype), labels)
        else:
            losses = softmax_cross_entropy(z, y[:, None], axis=1)
            correct = tf.equal(tf.argmax(z, 1, output_type=tf.int32), y[:, None])
        return tf.reduce_mean(losses, 0), tf.reduce_mean(tf.cast(correct, z.dtype), 0)

    def walk_values_at(self, theta, x, y, x_test=None, y_test=None):
        """What a walk step needs at feature-major theta ([D, B] or its per-layer blocks) on shared
        patterns: (loss, accuracy, gradient) on (x, y) as :meth:`gradient_at`, and with a test batch
        also (test loss, test accuracy), the first layer of both batches one GEMM
        (:meth:`MLP.first_layer_walks_last`)."""
        net = self.network
        with tf.GradientTape() as tape:
            tape.watch(theta)
            blocks = net.blocks(theta)
            first = net.first_layer_walks_last(blocks[0], x, x_test)
            z, z_test = first if x_test is not None else (first, None)
            loss, accuracy = self._loss_and_accuracy_walks_last(
                net.later_layers_walks_last(blocks, z), y
            )
            loss = self._with_l2(loss, theta, True)
        values = (loss, accuracy, tape.gradient(loss, theta))
        if x_test is None:
            return values
        test_loss, test_accuracy = self._loss_and_accuracy_walks_last(
            net.later_layers_walks_last(blocks, z_test), y_test
        )
        return values + (self._with_l2(test_loss, theta, True), test_accuracy)

    def loss_at(self, theta, x, y):
        return self.loss_and_accuracy_at(theta, x, y)[0]

    def loss_at_train(self, theta):
        """Training loss [B] on all training patterns, as a TensorFlow function (for NEB,
        minimisers)."""
        return self.loss_at(theta, self.x_train, self.y_train)

    def gradient_at(self, theta, x, y):
        """(loss [B], accuracy [B], gradient [B, D]) of theta [B, D]."""
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss, accuracy = self.loss_and_accuracy_at(theta, x, y)
        return loss, accuracy, tape.gradient(loss, theta)

    def hessian_at(self, theta, x, y):
        """Full Hessians [B, D, D], exact, by second-order backpropagation
        (:mod:`fla.core.exact_hessian`): about N D^2 operations a point instead of the D backward
        passes of differentiating the gradient."""
        from fla.core.exact_hessian import mlp_hessian

        return mlp_hessian(self.network, self.problem.kind, theta, x, y, self.l2)

    def hvp_at(self, theta, v, x, y):
        """Hessian-vector products H(theta_b) v_b, [B, D], by reverse-over-reverse
        differentiation."""
        with tf.GradientTape() as outer:
            outer.watch(theta)
            grad = self.gradient_at(theta, x, y)[2]
            grad_dot_v = tf.reduce_sum(grad * tf.stop_gradient(v), axis=-1)
        return outer.gradient(grad_dot_v, theta)

    # -- on the whole training set, compiled, numpy in -------------------------------------------
    def _as_theta(self, theta):
        theta = tf.convert_to_tensor(np.asarray(theta), self.dtype)
        if theta.shape.rank != 2 or theta.shape[1] != self.n_params:
            raise ValueError(f"theta must be [B, {self.n_params}], got {list(theta.shape)}")
        return theta

    def __call__(self, theta):
        """Training loss [B] of theta [B, D] on all training patterns."""
        return self._full(self._as_theta(theta))

    def gradient(self, theta):
        return self._grad(self._as_theta(theta))

    def hessian(self, theta):
        return self._hess(self._as_theta(theta))

    def hvp(self, theta, v):
        return self._hvp(self._as_theta(theta), tf.convert_to_tensor(np.asarray(v), self.dtype))

    def hvp_on(self, theta, v, x, y):
        """Compiled Hessian-vector products on given patterns (x [N, n_in] or [B, N, n_in])."""
        return self._hvp_on(
            self._as_theta(theta),
            tf.convert_to_tensor(np.asarray(v), self.dtype),
            tf.convert_to_tensor(x, self.dtype),
            tf.convert_to_tensor(y, tf.int32),
        )
