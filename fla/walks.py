"""Progressive gradient walks (Bosman, Engelbrecht and Helbig), advanced for many walks at once.

A walk starts at theta_0 ~ U[-b, b]^D. At step t the gradient g of the training loss at theta_t is
taken; every coordinate draws Delta_j ~ U(0, s) and moves against the sign of g_j:

    theta_{t+1, j} = theta_{t, j} - sign(g_j) * Delta_j,   with a zero (or NaN) g_j moving +Delta_j.

Walks are unbounded. The step bound s is 1% (micro) or 10% (macro) of the range width 2b. The row
recorded for step t describes theta_t, the point *before* its update, with the loss, accuracy and
gradient of the very batch whose gradient drives that update.

:class:`WalkProgram` runs a block of steps for a chunk of B walks as one compiled TensorFlow loop
whose body is one XLA program: per step a few batched matmuls for the gradient, the batched full
Hessian when asked, and the test loss. Nothing loops in Python per walk or per step. (TensorFlow is
imported inside the functions, so that the command line can validate flags without it.)

    >>> program = WalkProgram(objective, hessian=True)
    >>> theta, records = program.run(theta0, step_size=0.2, key=(7, 0), step0=0, n_steps=100)
"""
from __future__ import annotations

import numpy as np

GRANULARITY = {"micro": 0.01, "macro": 0.1}
DEFAULT_STEPS = {"micro": 1000, "macro": 100}
XLA_DRAWS = 2**16  # up to this many draws of Delta per step, the whole walk loop is compiled by XLA
RNG_ALG = "philox"  # named: XLA's default (auto_select) is far slower on CPU for large draws


def step_size(granularity: str, bound: float) -> float:
    """s = fraction * 2b: 1% of the range width for micro walks, 10% for macro walks."""
    return GRANULARITY[granularity] * 2.0 * bound


def progressive_gradient_step(theta, grad, delta):
    """One progressive gradient step: each coordinate moves by delta against the sign of its gradient."""
    import tensorflow as tf

    return theta + tf.where(grad > 0, -delta, delta)


class WalkProgram:
    """The compiled loop over steps for one chunk of walks.

    ``batching`` says where each step's training and test patterns come from: ``full`` (all
    patterns, every step), ``shared`` (index arrays [S, N]: one random batch per step, shared by all
    walks of the step, so the first layer of all walks is one GEMM) or ``per_walk`` (index arrays
    [S, B, N]: an independent batch for each walk; a batched skinny matmul).
    """

    def __init__(self, objective, hessian: bool = False, record_params: bool = False,
                 batching: str = "full", jit: bool = True):
        import tensorflow as tf

        if batching not in ("full", "shared", "per_walk"):
            raise ValueError(f"batching must be full, shared or per_walk, got {batching!r}")
        self.objective = objective
        self.hessian = hessian
        self.record_params = record_params
        self.batching = batching
        # The walk rule is elementwise, so the loop may keep theta as [D, B]: with shared inputs the
        # first-layer weights of all walks are then one contiguous GEMM operand (no transposes).
        self.feature_major = batching != "per_walk" and not hessian
        problem = objective.problem
        dtype = objective.dtype
        self.data = {
            "x_train": objective.x_train, "y_train": objective.y_train,
            "x_test": tf.constant(problem.x_test if problem.has_test else np.zeros((0, problem.n_inputs)), dtype),
            "y_test": tf.constant(problem.y_test if problem.has_test else np.zeros((0,), np.int32)),
        }
        # Small draws (XOR): the whole loop is one XLA program. Large draws (MNIST: D x B = 8M per
        # step): the loop is a graph while-loop drawing Delta with TensorFlow's native kernel around
        # one XLA program per step, measured 5-10% faster there than the whole loop under XLA. Delta
        # is drawn with Philox named explicitly: XLA's default algorithm is far slower on CPU
        # (bench/bench_walks.py). The two paths' streams differ, but which path runs depends only
        # on D x chunk (the configuration), so a seed still fixes every draw.
        self._step = tf.function(self._step_fn, jit_compile=jit)
        self._loops = {True: tf.function(self._loop_fn, jit_compile=jit), False: tf.function(self._loop_fn)}

    def run(self, theta, step_size: float, key, step0: int, n_steps: int, train_idx=None, test_idx=None):
        """Advance walks theta [B, D] (numpy) by n_steps; returns (theta after [B, D], records, numpy).

        records: ``loss, accuracy, grad_norm`` [S, B]; ``test_loss, test_accuracy`` [S, B] when the
        problem has a test split; ``params`` [S, B, D] if recorded; ``hessian`` [S, B, D, D] if asked
        (left a TensorFlow tensor, for :func:`fla.curvature.eigenvalues`).
        ``key`` (two integers) and the absolute step number seed each step's draw of Delta.
        """
        import tensorflow as tf

        theta = np.asarray(theta, np.float32)
        idx = lambda a: tf.constant(a, tf.int32) if a is not None else tf.zeros([n_steps, 0], tf.int32)
        state = tf.constant(theta.T if self.feature_major else theta, self.objective.dtype)
        whole_loop_xla = theta.size <= XLA_DRAWS
        state, records = self._loops[whole_loop_xla](state, tf.constant(step_size, self.objective.dtype),
                                    tf.constant(key, tf.int64), tf.constant(step0, tf.int64),
                                    idx(train_idx), idx(test_idx), **self.data)
        records = {name: value if name == "hessian" else value.numpy() for name, value in records.items()}
        if self.feature_major:
            if "params" in records:
                records["params"] = records["params"].transpose(0, 2, 1)
            return state.numpy().T, records
        return state.numpy(), records

    def _batch(self, x_all, y_all, idx):
        import tensorflow as tf

        if self.batching == "full":
            return x_all, y_all
        return tf.gather(x_all, idx), tf.gather(y_all, idx)

    def _step_fn(self, theta, delta, x, y, xt, yt):
        """Evaluate theta (loss, accuracy, gradient, [Hessian], [test]) and take one walk step."""
        import tensorflow as tf

        f = self.objective
        if self.hessian:
            loss, accuracy, grad, hess = f.hessian_at(theta, x, y)
        else:
            loss, accuracy, grad = f.gradient_at(theta, x, y, self.feature_major)
        row = {"loss": loss, "accuracy": accuracy,
               "grad_norm": tf.norm(grad, axis=0 if self.feature_major else -1), "params": theta}
        if f.problem.has_test:
            row["test_loss"], row["test_accuracy"] = f.loss_and_accuracy_at(theta, xt, yt, self.feature_major)
        if self.hessian:
            row["hessian"] = hess
        return progressive_gradient_step(theta, grad, delta), row

    def _loop_fn(self, theta, step_size, key, step0, train_idx, test_idx, x_train, y_train, x_test, y_test):
        import tensorflow as tf

        f = self.objective
        n_steps = train_idx.shape[0]
        names = ["loss", "accuracy", "grad_norm"] + ["test_loss", "test_accuracy"] * f.problem.has_test
        names += ["params"] * self.record_params + ["hessian"] * self.hessian

        def body(t, theta, arrays):
            x, y = self._batch(x_train, y_train, train_idx[t])
            xt, yt = self._batch(x_test, y_test, test_idx[t])
            seed = tf.stack([key[0], key[1] + step0 + tf.cast(t, tf.int64)])
            delta = tf.random.stateless_uniform(tf.shape(theta), seed, maxval=step_size, dtype=f.dtype, alg=RNG_ALG)
            theta, row = self._step(theta, delta, x, y, xt, yt)
            return t + 1, theta, tuple(array.write(t, row[name]) for name, array in zip(names, arrays))

        arrays = tuple(tf.TensorArray(f.dtype, size=n_steps) for _ in names)
        _, theta, arrays = tf.while_loop(lambda t, *_: t < n_steps, body, (tf.constant(0), theta, arrays))
        return theta, {name: array.stack() for name, array in zip(names, arrays)}
