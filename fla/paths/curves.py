"""Mode-connecting curves: Garipov, Izmailov, Podoprikhin, Vetrov and Wilson, "Loss Surfaces, Mode
Connectivity, and Fast Ensembling of DNNs", NeurIPS 2018, Sec. 3.

A curve phi_theta(t), t in [0, 1], joins two fixed minima w_1 = phi(0) and w_2 = phi(1) through
``bends`` trainable points theta. With control points c_0 = w_1, c_1..c_n = theta, c_{n+1} = w_2:

- Bezier (their Sec. 3.2): phi(t) = sum_k C(n+1, k) t^k (1 - t)^(n+1-k) c_k; one bend is the paper's
  quadratic Bezier curve, more bends raise the degree (as their code's ``Bezier`` does);
- PolyChain: the polygonal chain through c_0 .. c_{n+1} at t = k / (n + 1).

Training minimises the expected loss over the uniform distribution on t (their eq. 4),
E_{t ~ U(0, 1)} L(phi_theta(t)), by stochastic gradients: every step draws ``batch`` values of t,
stratified (one uniform draw in each of ``batch`` equal slices of [0, 1], which keeps the estimate
unbiased and lowers its variance), evaluates the loss at all of them in one batched call and updates
theta with Adam. Adam's step is insensitive to the scale of the loss, so one default works across
surfaces: its learning rate is ``lr`` x |w_2 - w_1| / sqrt(D) per coordinate, held for the first
half of training, decreased linearly to 1% of it at 90% and held there (the schedule of the paper's
code). The bends start on the straight line, where every curve equals the line. The draws of t are
``tf.random.stateless_uniform`` keyed by (seed, step): a curve is a function of its settings.

Evaluation takes the loss at ``points`` (61) evenly spaced values of t, the endpoints exactly. For
Keras models with BatchNorm (``fla.zoo.objective.KerasObjective``) every evaluated point uses
the batch statistics of the training examples it is evaluated on, so the BatchNorm statistics are
recomputed from training data at each t, as the paper prescribes (Sec. 3.5).

The whole training loop is one compiled ``tf.while_loop``. A non-finite loss or gradient skips the
step and halves the learning rate; after ``retries`` (8) of them training stops with an error naming
the step, and a returned curve never holds NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from fla.base.errors import FlaError
from fla.base.settings import integer, number, setting
from fla.paths.band import line
from fla.paths.record import Energy, PathRecord, check_method


class NonFiniteCurveError(FlaError):
    """The curve met non-finite losses or gradients and could not recover by lowering its step."""


def bezier_weights(t: np.ndarray, bends: int) -> np.ndarray:
    """The Bernstein weights C(n+1, k) t^k (1 - t)^(n+1-k) of the control points of a Bezier curve
    (Garipov et al. 2018, Sec. 3.2).

    Args:
        t: [T] curve parameters in [0, 1].
        bends: n, the trainable control points.

    Returns:
        [T, bends + 2] weights of c_0 .. c_{n+1}.
    """
    n = bends + 1
    k = np.arange(n + 1)
    t = np.asarray(t, np.float64)[:, None]
    return np.array([comb(n, j) for j in k], np.float64) * t**k * (1 - t) ** (n - k)


def polychain_weights(t: np.ndarray, bends: int) -> np.ndarray:
    """The hat-function weights of a polygonal chain: linear interpolation between neighbouring
    control points, which sit at t = k / (n + 1).

    Args:
        t: [T] curve parameters in [0, 1].
        bends: n, the trainable control points.

    Returns:
        [T, bends + 2] weights of c_0 .. c_{n+1}.
    """
    k = np.arange(bends + 2)
    return np.maximum(0.0, 1.0 - np.abs(np.asarray(t, np.float64)[:, None] * (bends + 1) - k))


def _tf_weights(kind: str, t, bends: int):
    import tensorflow as tf

    n = bends + 1
    k = tf.cast(tf.range(n + 1), t.dtype)
    if kind == "bezier":
        binomial = tf.constant([comb(n, j) for j in range(n + 1)], t.dtype)
        return binomial * tf.pow(t[:, None], k) * tf.pow(1 - t[:, None], n - k)
    return tf.maximum(tf.zeros([], t.dtype), 1 - tf.abs(t[:, None] * n - k))


def garipov_factor(step, steps):
    """The learning-rate factor of the paper's code: 1 to 50% of training, linear to 0.01 at 90%,
    then 0.01.

    Args:
        step: the training step (a tensor).
        steps: the training steps in all.

    Returns:
        The float64 factor.
    """
    import tensorflow as tf

    alpha = tf.cast(step, tf.float64) / tf.cast(steps, tf.float64)
    one, floor = tf.constant(1.0, tf.float64), tf.constant(0.01, tf.float64)
    return tf.where(
        alpha <= 0.5, one, tf.where(alpha <= 0.9, 1.0 - (alpha - 0.5) / 0.4 * 0.99, floor)
    )


def training(fn, dtype, kind: str, *, bends: int, batch: int):
    """The compiled training loop of a curve's bends (module docstring): stratified draws of t, one
    batched evaluation, Adam, a non-finite step skipped with the learning rate halved.

    Args:
        fn: the batched TensorFlow loss of [B, D] points.
        dtype: its precision.
        kind: ``"bezier"`` or ``"polychain"``.
        bends: the trainable control points.
        batch: values of t a step.

    Returns:
        run(start, end, theta, steps, lr, seed, retries) -> (the bends, the steps taken, the
            non-finite steps, each step's mean loss (NaN where skipped)).
    """
    import tensorflow as tf

    @tf.function(reduce_retracing=True, autograph=False)
    def run(start, end, theta, steps, lr, seed, retries):
        history = tf.TensorArray(dtype, size=0, dynamic_size=True)
        zeros = tf.zeros_like(theta)
        state = (
            tf.constant(0),
            theta,
            zeros,
            zeros,
            tf.constant(1.0, dtype),
            tf.constant(0),
            history,
        )

        def cond(step, theta, m, v, scale, failures, history):
            return (step < steps) & (failures <= retries)

        def body(step, theta, m, v, scale, failures, history):
            u = tf.random.stateless_uniform([batch], seed=tf.stack([seed, step]), dtype=dtype)
            t = (tf.cast(tf.range(batch), dtype) + u) / batch
            weights = _tf_weights(kind, t, bends)
            with tf.GradientTape() as tape:
                tape.watch(theta)
                controls = tf.concat([start[None], theta, end[None]], 0)
                loss = tf.reduce_mean(fn(tf.matmul(weights, controls)))
            grad = tape.gradient(loss, theta)
            ok = tf.math.is_finite(loss) & tf.reduce_all(tf.math.is_finite(grad))
            grad = tf.where(ok, grad, tf.zeros_like(grad))
            m_new = 0.9 * m + 0.1 * grad
            v_new = 0.999 * v + 0.001 * grad * grad
            k = tf.cast(step + 1, dtype)
            rate = lr * scale * tf.cast(garipov_factor(step, steps), dtype)
            update = rate * (m_new / (1 - 0.9**k)) / (tf.sqrt(v_new / (1 - 0.999**k)) + 1e-12)
            theta = tf.where(ok, theta - update, theta)
            m, v = tf.where(ok, m_new, m), tf.where(ok, v_new, v)
            history = history.write(step, tf.where(ok, loss, tf.constant(np.nan, dtype)))
            return (
                step + 1,
                theta,
                m,
                v,
                tf.where(ok, scale, scale * 0.5),
                failures + tf.where(ok, 0, 1),
                history,
            )

        out = tf.while_loop(cond, body, state)
        return out[1], out[0], out[5], out[6].stack()

    return run


@dataclass(frozen=True)
class Curve:
    """Shared by ``Bezier`` and ``PolyChain``: their settings, training and evaluation."""

    kind = ""
    bends: int = setting(
        1, "trainable points (Bezier: control points, 1 = quadratic)", integer(at_least=1)
    )
    steps: int = setting(1000, "training steps", integer(at_least=1))
    batch: int = setting(
        16, "values of t per step (stratified), evaluated in one call", integer(at_least=1)
    )
    lr: float = setting(
        0.01, "Adam learning rate, x |b - a| / sqrt(D) per coordinate", number(above=0)
    )
    points: int = setting(61, "values of t the trained curve is evaluated at", integer(at_least=2))
    seed: int = setting(0, "seed of the draws of t", integer(at_least=0))
    retries: int = setting(
        8, "non-finite steps tolerated (each halves the learning rate)", integer(at_least=0)
    )

    def __post_init__(self) -> None:
        check_method(self)

    def weights(self, t: np.ndarray) -> np.ndarray:
        """The control points' weights at t (``bezier_weights`` or ``polychain_weights``).

        Args:
            t: [T] curve parameters in [0, 1].

        Returns:
            [T, bends + 2] weights.
        """
        return (bezier_weights if self.kind == "bezier" else polychain_weights)(t, self.bends)

    def connect(self, energy: Energy, start, end) -> PathRecord:
        """Train a curve's bends between two minima and evaluate it at ``points`` values of t.

        Args:
            energy: the ``Energy`` of the loss.
            start: [D] the first minimum, phi(0).
            end: [D] the second, phi(1).

        Returns:
            The ``PathRecord``: the endpoints and bends, and the curve evaluated densely.

        Raises:
            NonFiniteCurveError: ``retries`` non-finite steps, naming the step.
        """
        import tensorflow as tf

        start, end = np.asarray(start, np.float64).ravel(), np.asarray(end, np.float64).ravel()
        theta = line(start, end, self.bends + 2)[1:-1]
        key = ("curve", self.kind, self.bends, self.batch)
        if key not in energy.programs:
            energy.programs[key] = training(
                energy.fn, energy.dtype, self.kind, bends=self.bends, batch=self.batch
            )
        lr = self.lr * np.linalg.norm(end - start) / np.sqrt(len(start))
        dtype = energy.dtype
        theta, taken, failures, history = energy.programs[key](
            tf.constant(start, dtype),
            tf.constant(end, dtype),
            tf.constant(theta, dtype),
            tf.constant(self.steps),
            tf.constant(lr, dtype),
            tf.constant(self.seed),
            tf.constant(self.retries),
        )
        energy.evaluations += int(taken) * self.batch
        energy.calls += int(taken)
        if int(failures) > self.retries:
            raise NonFiniteCurveError(
                f"{self.name}: non-finite loss or gradient at step {int(taken)}, still after "
                f"{self.retries} retries with halved learning rates"
            )
        controls = np.concatenate([start[None], theta.numpy().astype(np.float64), end[None]])
        params = self.weights(np.linspace(0.0, 1.0, self.points)) @ controls
        params[0], params[-1] = start, end
        losses = energy.values(params)
        if not np.isfinite(losses).all():
            raise NonFiniteCurveError(
                f"{self.name}: the trained curve has non-finite losses at "
                f"t = {np.linspace(0, 1, self.points)[~np.isfinite(losses)].round(3).tolist()}"
            )
        return PathRecord(
            self.name,
            controls,
            energy.values(controls),
            losses,
            params,
            [float(h) for h in history.numpy()],
            int(failures),
        )


@dataclass(frozen=True)
class Bezier(Curve):
    """Bezier curve with ``bends`` control points (1: the paper's quadratic Bezier curve)."""

    name = "bezier"
    kind = "bezier"


@dataclass(frozen=True)
class PolyChain(Curve):
    """Polygonal chain through ``bends`` trainable points."""

    name = "polychain"
    kind = "polychain"
