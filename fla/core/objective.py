"""The batched objective at the centre of fla: a loss over flat parameter vectors.

    theta [B, D] -> loss [B], gradient [B, D], hvp(theta, v) [B, D], hessian [B, D, D]

The loss is the mean over the patterns of a data loss taken from the logits (by default the
cross-entropy of a sigmoid output for binary problems, of a softmax output for multi-class ones, so
that it stays finite for weights drawn from [-10, 10]; or the squared error of the same outputs:
``fla.core.losses``) plus a penalty on the parameters (``fla.core.regularisers``). The B
losses are independent, so the gradient of
their sum with respect to theta [B, D] is the B per-vector gradients (and the Jacobian of that
gradient taken per batch row would be the B Hessians, which ``fla.core.exact_hessian`` assembles
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

from fla.core.losses import LOSSES, per_pattern, total
from fla.core.networks import MLP
from fla.core.problems import Problem
from fla.core.regularisers import NO_PENALTY, Regulariser
from fla.core.saturation import saturation_rows


def pattern_mean(values):
    """The mean over patterns (``fla.core.losses.total``, a compensated sum).

    Args:
        values: [B, N] per-pattern values.

    Returns:
        [B] means.
    """
    return total(values) / tf.cast(tf.shape(values)[-1], values.dtype)


def run_network(cfg: dict, data_dir=None) -> tuple[MLP, Problem]:
    """The network and problem of a sampling run's configuration.

    Args:
        cfg: the manifest's ``config`` (problem, target, width, depth and, unless ELU, activation).
        data_dir: the folder of data files.

    Returns:
        (the ``MLP``, the ``Problem``).
    """
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


def run_objective(
    cfg: dict, network: MLP, problem: Problem, *, dtype=tf.float32, l2: float = 0.0
) -> "Objective":
    """The objective a sampling run's configuration walked: its loss and its regulariser; with
    ``l2`` (a connection's or a quench's own L2 term, Mehta et al. 2018) the run's loss plus that L2
    penalty instead.

    Args:
        cfg: the manifest's ``config``.
        network: the run's ``MLP`` (``run_network``).
        problem: its ``Problem``.
        dtype: the precision (float32 as walked; float64 for a reference).
        l2: lambda of an L2 term added to the data loss (0: the run's own objective).

    Returns:
        The ``Objective``.

    Raises:
        ConfigError: ``l2`` for a run that walked a regularised objective (a second penalty).
    """
    from fla.base.errors import ConfigError

    loss = cfg.get("loss", "cross_entropy")
    kind = cfg.get("regulariser", "none")
    if l2:
        if kind != "none":
            raise ConfigError(
                f"the run walked its own {kind} penalty (lambda {cfg.get('lambda_')}); leave out "
                "--l2 (or l2), which would add a second"
            )
        return Objective(network, problem, dtype, l2=l2, loss=loss)
    w0 = cfg.get("w0")
    regulariser = Regulariser(kind, float(cfg.get("lambda_") or 0.0), 1.0 if w0 is None else w0)
    return Objective(network, problem, dtype, loss=loss, regulariser=regulariser)


class Objective:
    """The data loss of ``network`` on ``problem`` (``loss``: cross-entropy or squared error,
    ``fla.core.losses``) plus a ``regulariser``'s penalty (``fla.core.regularisers``);
    ``l2`` = lambda is the L2 penalty lambda |theta|^2 over all parameters, weights and biases alike
    (Mehta et al. 2018, Eq. 3). Accuracy is unaffected by either.

    The loss, gradient and Hessian of the objective are those of the sum; a walk records the data
    loss and the penalty apart (``walk_values_at``)."""

    def __init__(
        self,
        network: MLP,
        problem: Problem,
        dtype=tf.float32,
        *,
        l2: float = 0.0,
        loss: str = "cross_entropy",
        regulariser: Regulariser = NO_PENALTY,
    ):
        """The objective of ``network`` on ``problem``.

        Args:
            network: the ``MLP``; its inputs and outputs must fit the problem's.
            problem: the ``Problem`` (its training set is the default patterns).
            dtype: the precision of every computation.
            l2: lambda of the L2 penalty lambda |theta|^2 (Mehta et al. 2018, Eq. 3).
            loss: ``cross_entropy`` or ``mse`` (``fla.core.losses``).
            regulariser: the penalty (``fla.core.regularisers``), instead of ``l2``.

        Raises:
            ValueError: a negative or non-finite l2, an unknown loss, l2 beside a regulariser, or a
                network that does not fit the problem.
        """
        if not (isinstance(l2, (int, float)) and np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if l2 and regulariser.active:
            raise ValueError("give l2 or a regulariser, not both")
        self.regulariser = Regulariser("l2", float(l2)) if l2 else regulariser
        self.loss = loss
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
        self._data = compile(
            lambda theta: self.data_loss_and_accuracy_at(theta, self.x_train, self.y_train)[0]
        )
        self._grad = compile(lambda theta: self.gradient_at(theta, self.x_train, self.y_train)[2])
        self._hess = compile(lambda theta: self.hessian_at(theta, self.x_train, self.y_train))
        self._hvp = compile(lambda theta, v: self.hvp_at(theta, v, self.x_train, self.y_train))
        self._hvp_on = compile(self.hvp_at)

    @property
    def l2(self) -> float:
        """The L2 weight lambda (0 unless the regulariser is L2)."""
        return self.regulariser.lam if self.regulariser.kind == "l2" else 0.0

    @property
    def key(self) -> tuple:
        """What a compiled program of this objective depends on besides the network and data."""
        return (self.loss,) + self.regulariser.key

    # -- the patterns given explicitly (inlined into compiled programs) --------------------------
    def data_loss_and_accuracy_at(self, theta, x, y, *, hidden=None):
        """The mean data loss and accuracy of B parameter vectors, without the penalty (a walk's
        feature-major evaluation is ``walk_values_at``).

        Args:
            theta: [B, D] parameter vectors.
            x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.
            y: [N] or [B, N] integer labels.
            hidden: a list that collects the hidden layers' pre-activations ([N, units, B] each).

        Returns:
            (loss [B], accuracy [B]).
        """
        logits = self.network.logits(theta, x, hidden)
        batch = tf.shape(logits)[0]
        labels = tf.broadcast_to(y, [batch, tf.shape(logits)[1]])
        losses = per_pattern(self.loss, self.problem.kind, logits, labels=labels)
        if self.problem.kind == "binary":
            z = logits[..., 0]
            correct = tf.equal(tf.cast(z > 0, z.dtype), tf.cast(labels, z.dtype))
        else:
            correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
        return pattern_mean(losses), pattern_mean(tf.cast(correct, logits.dtype))

    def loss_and_accuracy_at(self, theta, x, y):
        """The mean loss (data loss plus penalty) and accuracy of B parameter vectors.

        Args:
            theta: [B, D] parameter vectors.
            x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.
            y: [N] or [B, N] integer labels.

        Returns:
            (loss [B], accuracy [B]).
        """
        loss, accuracy = self.data_loss_and_accuracy_at(theta, x, y)
        return self._plus_penalty(loss, theta, False), accuracy

    def penalty_at(self, theta, feature_major: bool):
        """The penalty lambda sum_i r(theta_i) of each parameter vector (``fla.core.regularisers``).

        Args:
            theta: [B, D], or feature-major [D, B] or its per-layer blocks.
            feature_major: whether theta is feature-major.

        Returns:
            [B] penalties.
        """
        blocks = theta if isinstance(theta, (tuple, list)) else [theta]
        terms = [self.regulariser.terms(b) for b in blocks]
        return self.regulariser.lam * tf.add_n(
            [total(tf.transpose(t)) if feature_major else total(t) for t in terms]
        )

    def _plus_penalty(self, loss, theta, feature_major):
        """loss + the penalty; without one the loss itself, so that programs do not trace it."""
        if not self.regulariser.active:
            return loss
        return loss + self.penalty_at(theta, feature_major)

    def _loss_and_accuracy_walks_last(self, z, y):
        """Mean data loss and accuracy [B] from logits z [N, C, B] and labels y [N]: every sum, over
        classes and over patterns, runs along a leading axis, elementwise across the walks' axis (no
        transposes, no per-walk small products)."""
        losses = per_pattern(self.loss, self.problem.kind, z, labels=y[:, None], axis=1)
        if self.problem.kind == "binary":
            labels = tf.cast(y, z.dtype)[:, None]
            correct = tf.equal(tf.cast(z[:, 0] > 0, z.dtype), labels)
        else:
            correct = tf.equal(tf.argmax(z, 1, output_type=tf.int32), y[:, None])
        return tf.reduce_mean(losses, 0), tf.reduce_mean(tf.cast(correct, z.dtype), 0)

    def walk_values_at(self, theta, x, y, *, x_test=None, y_test=None, saturation=False) -> dict:
        """What a walk step needs at feature-major theta on shared patterns: the first layer of the
        training and the test batch in one GEMM (``MLP.first_layer_walks_last``).

        Args:
            theta: [D, B] feature-major parameters, or its per-layer blocks.
            x: [N, n_in] the step's patterns.
            y: [N] their labels.
            x_test: a test batch, for ``test_loss`` and ``test_accuracy``.
            y_test: its labels.
            saturation: also the hidden layers' saturation on (x, y) (``fla.core.saturation``).

        Returns:
            {"loss" (the data loss), "accuracy", "gradient" (of the data loss plus the penalty),
                "penalty" (when there is one), "test_loss", "test_accuracy" (with a test batch), the
                saturation columns (with ``saturation``)}: [B] each, the gradient [D, B].
        """
        net, hidden, inner = self.network, ([] if saturation else None), {}

        def data_values():
            inner["blocks"] = blocks = net.blocks(theta)
            first = net.first_layer_walks_last(blocks[0], x, x_test)
            z, inner["z_test"] = first if x_test is not None else (first, None)
            return self._loss_and_accuracy_walks_last(
                net.later_layers_walks_last(blocks, z, hidden), y
            )

        values = self._differentiated(theta, data_values, True, hidden=hidden)
        if x_test is not None:
            values["test_loss"], values["test_accuracy"] = self._loss_and_accuracy_walks_last(
                net.later_layers_walks_last(inner["blocks"], inner["z_test"]), y_test
            )
        return values

    def walk_values_walks_first_at(self, theta, x, y, *, saturation=False) -> dict:
        """``walk_values_at``'s values (without a test batch) by automatic differentiation with the
        walks first.

        Args:
            theta: [B, D] parameter vectors.
            x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.
            y: [N] or [B, N] integer labels.
            saturation: also the hidden layers' saturation.

        Returns:
            As ``walk_values_at``, the gradient [B, D].
        """
        hidden = [] if saturation else None
        return self._differentiated(
            theta,
            lambda: self.data_loss_and_accuracy_at(theta, x, y, hidden=hidden),
            False,
            hidden=hidden,
        )

    def _differentiated(self, theta, data_values, feature_major: bool, *, hidden) -> dict:
        """What a walk records of ``data_values()`` (data loss, accuracy), evaluated on a tape that
        watches theta: the loss and accuracy, the penalty when there is one, the ``gradient`` of
        their sum, and, with ``hidden`` (the hidden pre-activations the evaluation collected), the
        saturation."""
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss, accuracy = data_values()
            values = {"loss": loss, "accuracy": accuracy}
            if self.regulariser.active:
                values["penalty"] = self.penalty_at(theta, feature_major)
                loss = loss + values["penalty"]
        values["gradient"] = tape.gradient(loss, theta)
        if hidden is not None:
            values.update(saturation_rows(self.network.activation, hidden))
        return values

    def loss_at(self, theta, x, y):
        """The mean loss (data loss plus penalty) of B parameter vectors.

        Args:
            theta: [B, D] parameter vectors.
            x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.
            y: [N] or [B, N] integer labels.

        Returns:
            [B] losses.
        """
        return self.loss_and_accuracy_at(theta, x, y)[0]

    def loss_at_train(self, theta):
        """The training loss on all training patterns, as a TensorFlow function (for NEB,
        minimisers).

        Args:
            theta: [B, D] parameter vectors.

        Returns:
            [B] losses.
        """
        return self.loss_at(theta, self.x_train, self.y_train)

    def gradient_at(self, theta, x, y):
        """The loss, accuracy and gradient of the loss (the penalty included) of B parameter
        vectors.

        Args:
            theta: [B, D] parameter vectors.
            x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.
            y: [N] or [B, N] integer labels.

        Returns:
            (loss [B], accuracy [B], gradient [B, D]).
        """
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss, accuracy = self.loss_and_accuracy_at(theta, x, y)
        return loss, accuracy, tape.gradient(loss, theta)

    def hessian_at(self, theta, x, y):
        """Exact Hessians of the data loss plus the penalty, by second-order backpropagation
        (``fla.core.exact_hessian``; Bishop 1992): about N D^2 operations a point instead of the D
        backward passes of differentiating the gradient.

        Args:
            theta: [B, D] parameter vectors.
            x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.
            y: [N] or [B, N] integer labels.

        Returns:
            [B, D, D] Hessians.
        """
        from fla.core.exact_hessian import mlp_hessian

        hess = mlp_hessian(self.network, self.problem.kind, theta, x=x, y=y, loss=self.loss)
        if self.regulariser.active:
            hess += tf.linalg.diag(self.regulariser.hessian_diagonal(theta))
        return hess

    def hvp_at(self, theta, v, x, y):
        """Hessian-vector products of the data loss plus the penalty by the R-operator (Pearlmutter
        1994) in the exact Hessian's non-cancelling forms (``fla.core.exact_hessian.mlp_hvp``): as
        accurate as the full Hessian at every loss, where reverse-over-reverse differentiation loses
        the curvature of confident outputs.

        Args:
            theta: [B, D] parameter vectors.
            v: [B, D] one vector per point.
            x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.
            y: [N] or [B, N] integer labels.

        Returns:
            [B, D] H(theta_b) v_b.
        """
        from fla.core.exact_hessian import mlp_hvp

        v = tf.stop_gradient(tf.convert_to_tensor(v, theta.dtype))
        products = mlp_hvp(self.network, self.problem.kind, theta, v=v, x=x, y=y, loss=self.loss)
        if self.regulariser.active:
            products += self.regulariser.hessian_diagonal(theta) * v
        return products

    # -- on the whole training set, compiled, numpy in -------------------------------------------
    def _as_theta(self, theta):
        theta = tf.convert_to_tensor(np.asarray(theta), self.dtype)
        if theta.shape.rank != 2 or theta.shape[1] != self.n_params:
            raise ValueError(f"theta must be [B, {self.n_params}], got {list(theta.shape)}")
        return theta

    def __call__(self, theta):
        """Training loss [B] of theta [B, D] on all training patterns."""
        return self._full(self._as_theta(theta))

    def data_loss(self, theta):
        """The training data loss, without the penalty; compiled, accepting numpy.

        Args:
            theta: [B, D] parameter vectors.

        Returns:
            [B] data losses.
        """
        return self._data(self._as_theta(theta))

    def gradient(self, theta):
        """The gradient of the training loss; compiled, accepting numpy.

        Args:
            theta: [B, D] parameter vectors.

        Returns:
            [B, D] gradients.
        """
        return self._grad(self._as_theta(theta))

    def hessian(self, theta):
        """The exact Hessians of the training loss (``hessian_at``); compiled, accepting numpy.

        Args:
            theta: [B, D] parameter vectors.

        Returns:
            [B, D, D] Hessians.
        """
        return self._hess(self._as_theta(theta))

    def hvp(self, theta, v):
        """Hessian-vector products of the training loss (``hvp_at``); compiled, accepting numpy.

        Args:
            theta: [B, D] parameter vectors.
            v: [B, D] one vector per point.

        Returns:
            [B, D] products.
        """
        return self._hvp(self._as_theta(theta), tf.convert_to_tensor(np.asarray(v), self.dtype))

    def hvp_on(self, theta, v, x, *, y):
        """Compiled Hessian-vector products on given patterns (``hvp_at``).

        Args:
            theta: [B, D] parameter vectors.
            v: [B, D] one vector per point.
            x: [N, n_in] patterns shared by all points, or [B, N, n_in] one set per point.
            y: [N] or [B, N] integer labels.

        Returns:
            [B, D] products.
        """
        return self._hvp_on(
            self._as_theta(theta),
            tf.convert_to_tensor(np.asarray(v), self.dtype),
            tf.convert_to_tensor(x, self.dtype),
            tf.convert_to_tensor(y, tf.int32),
        )
