"""Quenches of many points at once: one compiled L-BFGS program over a [B, D] batch, each point
with its own history, step and line search, and a mask that freezes the points that have
converged (as GMIN's LBFGS quenches one structure, here B of them side by side).

Per iteration and point (Nocedal and Wright, Numerical Optimization, 2nd ed., Algorithm 7.4, the
two-loop recursion over the last ``memory`` pairs; Algorithm 3.1, backtracking to the Armijo
condition with c1 = 1e-4): the direction d = -H g, reset to -g when it is not a descent direction;
a step of at most ``max_step`` in norm (GMIN's MAXBFGS); halved until the loss falls enough, at most
``HALVINGS`` times (a point that cannot descend stops, marked as stuck). A pair (s, y) enters the
history only when s . y > 0, so H stays positive definite. The program is XLA-compiled once per
batch size; the loss and its gradient are the objective's own, in its precision (float64 for the
landscapes).

    >>> q = Quencher(objective(3, 1e-2))
    >>> minima, losses, grad_norms, iterations = q(points, gtol=1e-7)
"""

from __future__ import annotations

import numpy as np

HALVINGS = 30
ARMIJO = 1e-4


class Quencher:
    """Batched L-BFGS quenches of an objective's training loss, one compiled XLA program per batch
    size (module docstring); ``quenches`` and ``evaluations`` count the work done.
    """

    def __init__(
        self, f, batch: int = 64, memory: int = 10, *, max_iter: int = 5000, max_step: float = 0.5
    ):
        """A compiled batched L-BFGS quench of an objective (module docstring).

        Args:
            f: the objective (its ``gradient_at`` on its training set).
            batch: the rows every call runs on (padded): one compiled program.
            memory: the (s, y) pairs L-BFGS keeps.
            max_iter: the most iterations.
            max_step: the longest step in norm (GMIN's MAXBFGS).
        """
        import tensorflow as tf

        self.f, self.memory, self.max_iter, self.max_step = f, memory, max_iter, max_step
        self.batch = batch  # every call runs on this many rows (padded): one compiled program
        self.dtype = f.dtype
        self._run = tf.function(
            self._program, jit_compile=True, reduce_retracing=True, autograph=False
        )
        self.quenches = 0
        self.evaluations = 0

    def value_and_gradient(self, x):
        """The objective's training loss and gradient.

        Args:
            x: [B, D] points (a tensor).

        Returns:
            (loss [B], gradient [B, D]).
        """
        loss, _, grad = self.f.gradient_at(x, self.f.x_train, self.f.y_train)
        return loss, grad

    def __call__(self, points: np.ndarray, gtol: float):
        """(minima [B, D], losses [B], gradient norms [B], iterations [B]) of points [B, D], in
        calls of ``batch`` rows (the last padded with copies of its first row)."""
        points = np.atleast_2d(np.asarray(points, np.float64))
        parts = [
            self._call(points[i : i + self.batch], gtol) for i in range(0, len(points), self.batch)
        ]
        self.quenches += len(points)
        return tuple(np.concatenate(p) for p in zip(*parts))

    def _call(self, points: np.ndarray, gtol: float):
        import tensorflow as tf

        n = len(points)
        padded = np.concatenate([points, np.repeat(points[:1], self.batch - n, axis=0)])
        x, loss, grad, iters, evals = self._run(
            tf.constant(padded, self.dtype), tf.constant(gtol, self.dtype)
        )
        self.evaluations += int(evals) * n // self.batch  # the padding's share left out
        return (
            x.numpy()[:n].astype(np.float64),
            loss.numpy()[:n].astype(np.float64),
            np.linalg.norm(grad.numpy()[:n], axis=1),
            iters.numpy()[:n],
        )

    def _program(self, x0, gtol):
        import tensorflow as tf

        m, dtype = self.memory, self.dtype
        one, tiny = tf.constant(1.0, dtype), tf.constant(1e-300, dtype)
        batch, dim = tf.shape(x0)[0], tf.shape(x0)[1]
        dot = lambda a, b: tf.reduce_sum(a * b, axis=-1)  # noqa: E731
        loss0, grad0 = self.value_and_gradient(x0)
        state = {
            "x": x0,
            "loss": loss0,
            "grad": grad0,
            "s": tf.zeros([m, batch, dim], dtype),
            "y": tf.zeros([m, batch, dim], dtype),
            "rho": tf.zeros([m, batch], dtype),
            "gamma": 0.1 / tf.maximum(tf.norm(grad0, axis=1), tiny),
            "active": tf.norm(grad0, axis=1) > gtol,
            "iters": tf.zeros([batch], tf.int32),
            "k": tf.constant(0),
            "evals": batch,
        }

        def direction(st):
            q = st["grad"]
            alphas = []
            for j in range(m):  # newest first
                i = (st["k"] - 1 - j) % m
                a = st["rho"][i] * dot(st["s"][i], q)
                q = q - a[:, None] * st["y"][i]
                alphas.append((i, a))
            r = st["gamma"][:, None] * q
            for i, a in reversed(alphas):
                b = st["rho"][i] * dot(st["y"][i], r)
                r = r + st["s"][i] * (a - b)[:, None]
            d = -r
            descent = dot(d, st["grad"]) < 0
            return tf.where(descent[:, None], d, -st["grad"])

        def iteration(st):
            d = direction(st)
            norm = tf.norm(d, axis=1)
            d = d * tf.minimum(one, self.max_step / tf.maximum(norm, tiny))[:, None]
            slope = dot(d, st["grad"])
            alpha = tf.ones([batch], dtype)
            pending = st["active"]
            new_x, new_loss, new_grad = st["x"], st["loss"], st["grad"]

            def trial(t, alpha, pending, new_x, new_loss, new_grad, evals):
                cand = st["x"] + alpha[:, None] * d
                loss, grad = self.value_and_gradient(cand)
                ok = (
                    pending
                    & tf.math.is_finite(loss)
                    & (loss <= st["loss"] + ARMIJO * alpha * slope)
                )
                ok = ok & tf.reduce_all(tf.math.is_finite(grad), axis=1)
                new_x = tf.where(ok[:, None], cand, new_x)
                new_loss = tf.where(ok, loss, new_loss)
                new_grad = tf.where(ok[:, None], grad, new_grad)
                pending = pending & ~ok
                alpha = tf.where(pending, alpha * 0.5, alpha)
                return t + 1, alpha, pending, new_x, new_loss, new_grad, evals + batch

            _, alpha, stuck, new_x, new_loss, new_grad, evals = tf.while_loop(
                lambda t, alpha, pending, *_: (t < HALVINGS) & tf.reduce_any(pending),
                trial,
                (0, alpha, pending, new_x, new_loss, new_grad, st["evals"]),
            )
            moved = st["active"] & ~stuck
            s, y = new_x - st["x"], new_grad - st["grad"]
            sy = dot(s, y)
            keep = moved & (sy > tiny)
            slot = st["k"] % m
            zero = tf.zeros_like(s)
            update = lambda buf, value: tf.tensor_scatter_nd_update(buf, [[slot]], value[None])  # noqa: E731
            st = dict(st)
            st["s"] = update(st["s"], tf.where(keep[:, None], s, zero))
            st["y"] = update(st["y"], tf.where(keep[:, None], y, zero))
            st["rho"] = update(st["rho"], tf.where(keep, one / tf.where(keep, sy, one), 0 * one))
            st["gamma"] = tf.where(keep, sy / tf.maximum(dot(y, y), tiny), st["gamma"])
            st["x"], st["loss"], st["grad"] = new_x, new_loss, new_grad
            st["active"] = moved & (tf.norm(new_grad, axis=1) > gtol)
            st["iters"] = st["iters"] + tf.cast(moved, tf.int32)
            st["k"] = st["k"] + 1
            st["evals"] = evals
            return (st,)

        (state,) = tf.while_loop(
            lambda st: (st["k"] < self.max_iter) & tf.reduce_any(st["active"]),
            iteration,
            (state,),
        )
        return state["x"], state["loss"], state["grad"], state["iters"], state["evals"]
