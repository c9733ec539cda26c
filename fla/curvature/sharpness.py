"""Sharpness and flatness measures of the generalisation literature, batched over points.

Bosman, Engelbrecht and Helbig attribute the steep- and shallow-gradient clusters of their l-g
clouds to the "narrow and wide valleys" of the loss surface (Chaudhari et al. 2017; Keskar et al.
2017). These are the measures that give a valley's width a number, each as its paper defines it,
at B points theta [B, D] at once on the training loss L (the objective the walks followed):

- ``epsilon_sharpness`` (Keskar et al. 2017, Metric 2.1): phi = (max_{y in C} L(x + A y) - L(x))
  / (1 + L(x)) x 100 over the box C = {|y_i| <= epsilon (|(A^+ x)_i| + 1)}; A = I (the full space)
  or a random D x p Gaussian matrix (their random-subspace variant, A^+ its pseudo-inverse).
- ``adaptive_sharpness`` (Kwon et al. 2021, Eq. 4; Andriushchenko et al. 2023, Eq. 2): the worst
  case ``max_{||delta / c||_p <= rho} L(w + delta) - L(w)`` and the average case ``E_{delta ~ N(0,
  rho^2 diag(c^2))} L(w + delta) - L(w)``, with c = |w| + eta (Kwon et al.'s T_w; eta = 0 gives
  Andriushchenko et al.'s, invariant to rescalings that leave the function unchanged).
- ``m_sharpness`` (Foret et al. 2021, Sec. 4.1): the mean over the training set's batches of m
  patterns of each batch's worst case max_{||delta||_2 <= rho} L_B(w + delta) - L_B(w).
- ``pac_bayes_flatness`` (Jiang et al. 2020, Sec. 6 and Appendix C.3, "pacbayes.flatness" and
  "pacbayes.mag.flatness"): the largest sigma with E_u[L(w + u)] - L(w) <= threshold for u ~ N(0,
  sigma^2 I), and the magnitude-aware sigma' with u_i ~ N(0, sigma'^2 w_i^2 + epsilon^2), found by
  bisection on Monte Carlo estimates (the same draws for every sigma, so the estimate is a
  function of sigma alone); the measures are 1 / sigma^2 and 1 / sigma'^2.
- ``hessian_measures``: the Hessian's largest eigenvalue, trace and Frobenius norm (exact up to
  D = ``EXACT_MAX_PARAMS_FEW``, else Lanczos and Hutchinson's estimators).

Every worst case is found by projected gradient ascent (``worst_case``) in the perturbation's own
coordinates u (delta = A (c * u), ||u||_p <= rho), from u = 0 (Keskar et al.'s start, y = 0; a
coordinate whose gradient is exactly zero steps in a seeded random direction), with sign steps
for p = infinity and normalised steps for p = 2 of 2.5 rho / steps (Madry et al. 2018),
for at most ``steps`` steps, converged when the best value found rose by at most ``tol`` of itself
over the last ``PATIENCE`` steps; the best value is that of the best point visited, every one of
which lies in the set. Keskar et al. used L-BFGS-B on the box; projected ascent reaches the same
vertices of a box on a convex loss and batches over points.

    >>> surface = Surface(objective)                     # the training loss of an fla Objective
    >>> phi = epsilon_sharpness(surface, ends, EpsilonSharpness())["eps_sharpness"]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fla.base.settings import choice, integer, number, setting

DOUBLINGS = 40  # of the PAC-Bayes sigma from 1 before it is called unbounded
PATIENCE = 5  # steps over which a worst case must rise by more than tol to go on


@dataclass(frozen=True)
class EpsilonSharpness:
    """Keskar et al. (2017): the box's epsilon and the subspace's dimension."""

    epsilon: float = setting(1e-3, "the box |y_i| <= epsilon (|x_i| + 1)", number(above=0))
    subspace: int = setting(
        0, "the random subspace's dimension p (0: the full space)", integer(at_least=0)
    )
    steps: int = setting(20, "most ascent steps", integer(at_least=1))
    tol: float = setting(1e-3, "converged when the worst case rises less", number(above=0))


@dataclass(frozen=True)
class AdaptiveSharpness:
    """Kwon et al. (2021), Andriushchenko et al. (2023)."""

    rho: float = setting(0.5, "the radius of ||delta / c||_p", number(above=0))
    p: str = setting("2", "the norm: 2 or inf", choice("2", "inf"))
    eta: float = setting(0.01, "c = |w| + eta (Kwon et al.'s T_w)", number(at_least=0))
    samples: int = setting(32, "Gaussian draws of the average case", integer(at_least=1))
    steps: int = setting(20, "most ascent steps", integer(at_least=1))
    tol: float = setting(1e-3, "converged when the worst case rises less", number(above=0))


@dataclass(frozen=True)
class MSharpness:
    """Foret et al. (2021): the worst case per batch of m patterns."""

    m: int = setting(128, "patterns a batch", integer(at_least=1))
    rho: float = setting(0.05, "the radius of ||delta||_2 (SAM's)", number(above=0))
    steps: int = setting(20, "most ascent steps", integer(at_least=1))
    tol: float = setting(1e-3, "converged when the worst case rises less", number(above=0))


@dataclass(frozen=True)
class PacBayes:
    """Jiang et al. (2020): sigma by bisection."""

    threshold: float = setting(
        0.1, "the largest rise of the expected training quantity", number(above=0)
    )
    quantity: str = setting(
        "error", "what rises: the 0-1 training error or the loss", choice("error", "loss")
    )
    samples: int = setting(10, "Gaussian draws a sigma", integer(at_least=1))
    bisections: int = setting(20, "bisection steps", integer(at_least=1))
    epsilon: float = setting(1e-3, "the magnitude-aware variance's floor", number(at_least=0))


@dataclass(frozen=True)
class HessianMeasures:
    """Past the exact limit: Lanczos steps for the largest eigenvalue, Rademacher vectors for
    Hutchinson's trace and Frobenius norm."""

    steps: int = setting(100, "Lanczos steps", integer(at_least=1))
    samples: int = setting(100, "Hutchinson's Rademacher vectors", integer(at_least=2))


class Surface:
    """The training loss of an ``fla.core.objective.Objective`` (the data loss plus its penalty)
    on its patterns x [N, n] (default the training set), as numpy in and out: values, gradients
    and errors of points [B, D], in chunks of points that fit ``memory`` bytes of activations;
    ``batches(m)`` gives the surfaces of the training set's consecutive batches of m patterns.
    ``evaluations`` counts the points evaluated."""

    def __init__(self, objective, x=None, y=None, *, memory: float = 2**29):
        """The training loss of ``objective`` on patterns.

        Args:
            objective: an ``fla.core.objective.Objective``.
            x: [N, n] patterns (default its training set).
            y: their labels.
            memory: bytes of activations a chunk of points may take.
        """
        import tensorflow as tf

        self.objective = objective
        self.n_params = objective.n_params
        self.dtype = objective.dtype
        self.x = objective.x_train if x is None else tf.constant(x, objective.dtype)
        self.y = objective.y_train if y is None else tf.constant(y, tf.int32)
        width = sum(fan_out for _, fan_out in objective.network.layers)
        self.chunk = max(1, int(memory // (16 * int(self.x.shape[0]) * width)))
        self.evaluations = 0
        self._grad = compiled(objective, "gradient")
        self._values = compiled(objective, "values")

    def batches(self, m: int) -> list:
        """Surfaces of the training set's consecutive batches of m patterns (the last one shorter),
        for m-sharpness.

        Args:
            m: patterns a batch.

        Returns:
            A list of ``Surface``, one a batch.
        """
        n = int(self.x.shape[0])
        return [
            Surface(self.objective, self.x[i : i + m], self.y[i : i + m]) for i in range(0, n, m)
        ]

    def _run(self, fn, theta):
        import tensorflow as tf

        theta = np.atleast_2d(theta)
        self.evaluations += len(theta)
        parts = [
            fn(tf.constant(theta[i : i + self.chunk], self.dtype), self.x, self.y)
            for i in range(0, len(theta), self.chunk)
        ]
        return [np.concatenate([p[k].numpy() for p in parts]) for k in range(len(parts[0]))]

    def loss(self, theta: np.ndarray) -> np.ndarray:
        """The training loss L (data loss plus penalty) at each point.

        Args:
            theta: [B, D] points.

        Returns:
            [B] float64 losses.
        """
        return self._run(self._values, theta)[0].astype(np.float64)

    def error(self, theta: np.ndarray) -> np.ndarray:
        """The training error (1 - accuracy) at each point.

        Args:
            theta: [B, D] points.

        Returns:
            [B] float64 errors in [0, 1].
        """
        return 1.0 - self._run(self._values, theta)[1].astype(np.float64)

    def gradient(self, theta: np.ndarray):
        """The loss and its gradient at each point.

        Args:
            theta: [B, D] points.

        Returns:
            (losses [B], gradients [B, D]), float64.
        """
        loss, grad = self._run(self._grad, theta)
        return loss.astype(np.float64), grad.astype(np.float64)


def compiled(objective, what: str):
    """One of the objective's compiled functions of points on patterns, made once and kept on it.

    Args:
        objective: an ``fla.core.objective.Objective``.
        what: ``gradient`` (loss, gradient), ``values`` (loss, accuracy) or ``data`` (data loss,
            accuracy: without the penalty).

    Returns:
        A ``tf.function`` of (theta [B, D], x, y).
    """
    import tensorflow as tf

    cache = objective.__dict__.setdefault("_sharpness_programs", {})
    if what not in cache:
        fn = {
            "gradient": lambda t, x, y: objective.gradient_at(t, x, y)[::2],
            "values": objective.loss_and_accuracy_at,
            "data": objective.data_loss_and_accuracy_at,  # without the penalty
        }[what]
        cache[what] = tf.function(fn, reduce_retracing=True, autograph=False)
    return cache[what]


def project(u: np.ndarray, rho: float, p: str) -> np.ndarray:
    """Euclidean projection onto the ball ||u||_p <= rho.

    Args:
        u: [B, k] one perturbation per point, in its own coordinates.
        rho: the ball's radius.
        p: ``"2"`` or ``"inf"``.

    Returns:
        [B, k] the projected u.
    """
    if p == "inf":
        return np.clip(u, -rho, rho)
    norm = np.linalg.norm(u, axis=1, keepdims=True)
    return u * np.minimum(1.0, rho / np.maximum(norm, 1e-300))


def worst_case(surface, theta, *, scale, basis=None, rho, p, steps, tol, seed=0) -> dict:
    """max over ||u||_p <= rho of L(theta + delta(u)) - L(theta), delta = A (scale * u), by
    projected gradient ascent from u = 0 (module docstring).

    Args:
        surface: the ``Surface`` L.
        theta: [B, D] points.
        scale: [B, k] the per-coordinate scale c of the perturbation.
        basis: [D, k] A, a subspace's basis (default I, k = D).
        rho: the radius of the set.
        p: ``"2"`` or ``"inf"``, the set's norm.
        steps: the most ascent steps (step size 2.5 rho / steps).
        tol: converged when the best value rose by at most tol of itself over ``PATIENCE`` steps.
        seed: the seed of the random directions taken where a gradient is exactly zero.

    Returns:
        {"rise": [B] the best value found, "delta": [B, D] where, "base": [B] L(theta), "steps": [B]
            steps taken, "converged": [B]}.
    """
    theta = np.asarray(theta, np.float64)
    base = surface.loss(theta)
    rng = np.random.default_rng(seed)
    u = np.zeros((len(theta), scale.shape[1]))

    def delta_of(u):
        d = scale * u
        return d @ basis.T if basis is not None else d

    alpha = 2.5 * rho / steps
    best = np.full(len(theta), -np.inf)
    best_delta = np.zeros_like(theta)
    history, taken = [], np.zeros(len(theta), int)
    converged = np.zeros(len(theta), bool)
    for step in range(steps + 1):
        delta = delta_of(u)
        loss, grad = surface.gradient(theta + delta)
        rise = loss - base
        better = rise > best
        best = np.where(better, rise, best)
        best_delta[better] = delta[better]
        history.append(best.copy())
        taken = np.where(converged, taken, step)
        if len(history) > PATIENCE:
            gain = history[-1] - history[-1 - PATIENCE]
            converged |= gain <= tol * np.maximum(np.abs(history[-1]), 1e-12)
        if converged.all() or step == steps:
            break
        g = grad @ basis if basis is not None else grad
        u = project(u + alpha * ascent(scale * g, p, rng), rho, p)
    return {"rise": best, "delta": best_delta, "base": base, "steps": taken, "converged": converged}


def ascent(g: np.ndarray, p: str, rng) -> np.ndarray:
    """The steepest-ascent step of unit dual norm: sign(g) for p = infinity, g / ||g||_2 for p = 2;
    where g is exactly zero, a seeded random direction.

    Args:
        g: [B, k] gradients in the perturbation's coordinates.
        p: ``"2"`` or ``"inf"``.
        rng: a numpy Generator for the random directions.

    Returns:
        [B, k] the steps.
    """
    if p == "inf":
        return np.where(g == 0, rng.choice([-1.0, 1.0], g.shape), np.sign(g))
    norm = np.linalg.norm(g, axis=1, keepdims=True)
    still = norm[:, 0] == 0
    if still.any():
        g = g.copy()
        g[still] = rng.standard_normal((int(still.sum()), g.shape[1]))
        norm = np.linalg.norm(g, axis=1, keepdims=True)
    return g / norm


def epsilon_sharpness(surface, theta, settings: EpsilonSharpness, *, seed: int = 0) -> dict:
    """Keskar et al.'s epsilon-sharpness (2017, Metric 2.1): phi = (max_{y in C} L(x + A y) - L(x))
    / (1 + L(x)) x 100 over the box C = {|y_i| <= epsilon (|(A^+ x)_i| + 1)}.

    Args:
        surface: the ``Surface`` L.
        theta: [B, D] points x.
        settings: epsilon and the subspace's dimension p (0: the full space, A = I; else A a random
            D x p Gaussian matrix), the ascent's steps and tol.
        seed: the seed of A and of the ascent.

    Returns:
        {"eps_sharpness": [B] phi in per cent, "steps": [B], "converged": [B]}.
    """
    theta = np.asarray(theta, np.float64)
    basis = None
    coords = np.abs(theta)
    if settings.subspace:
        basis = np.random.default_rng([seed, 1]).standard_normal(
            (theta.shape[1], settings.subspace)
        )
        coords = np.abs(theta @ np.linalg.pinv(basis).T)
    scale = settings.epsilon * (coords + 1.0)
    found = worst_case(
        surface,
        theta,
        scale=scale,
        basis=basis,
        rho=1.0,
        p="inf",
        steps=settings.steps,
        tol=settings.tol,
        seed=seed,
    )
    phi = found["rise"] / (1.0 + found["base"]) * 100.0
    return {"eps_sharpness": phi, "steps": found["steps"], "converged": found["converged"]}


def adaptive_sharpness(surface, theta, settings: AdaptiveSharpness, *, seed: int = 0) -> dict:
    """Adaptive sharpness (Kwon et al. 2021, Eq. 4; Andriushchenko et al. 2023, Eq. 2): the worst
    case ``max_{||delta / c||_p <= rho} L(w + delta) - L(w)`` and the average case ``E_{delta ~ N(0,
    rho^2 diag(c^2))} L(w + delta) - L(w)``, with c = |w| + eta.

    Args:
        surface: the ``Surface`` L.
        theta: [B, D] points w.
        settings: rho, p, eta (0: Andriushchenko et al.'s), the Monte Carlo samples, the ascent's
            steps and tol.
        seed: the seed of the draws and of the ascent.

    Returns:
        {"adaptive_worst", "adaptive_average", "adaptive_average_error" (the average's Monte Carlo
            standard error), "steps", "converged"}: [B] each.
    """
    theta = np.asarray(theta, np.float64)
    scale = np.abs(theta) + settings.eta
    found = worst_case(
        surface,
        theta,
        scale=scale,
        rho=settings.rho,
        p=settings.p,
        steps=settings.steps,
        tol=settings.tol,
        seed=seed,
    )
    draws = np.random.default_rng([seed, 2]).standard_normal((settings.samples, *theta.shape))
    points = theta[None] + settings.rho * scale[None] * draws
    rises = surface.loss(points.reshape(-1, theta.shape[1])).reshape(settings.samples, -1)
    rises = rises - found["base"][None]
    return {
        "adaptive_worst": found["rise"],
        "adaptive_average": rises.mean(axis=0),
        "adaptive_average_error": rises.std(axis=0, ddof=1) / np.sqrt(settings.samples)
        if settings.samples > 1
        else np.full(len(theta), np.inf),
        "steps": found["steps"],
        "converged": found["converged"],
    }


def m_sharpness(surface, theta, settings: MSharpness, *, seed: int = 0) -> dict:
    """Foret et al.'s m-sharpness (2021, Sec. 4.1): the mean over the training set's batches of m
    patterns (weighted by their sizes) of each batch's worst case max_{||delta||_2 <= rho} L_B(w +
    delta) - L_B(w).

    Args:
        surface: the ``Surface`` L on the whole training set.
        theta: [B, D] points w.
        settings: m, rho, the ascent's steps and tol.
        seed: the seed of the first batch's ascent (batch k uses seed + k).

    Returns:
        {"m_sharpness": [B], "converged_share": [B] the share of batch ascents that converged}.
    """
    theta = np.asarray(theta, np.float64)
    total, weight, converged = np.zeros(len(theta)), 0, np.zeros(len(theta))
    batches = surface.batches(settings.m)
    for k, batch in enumerate(batches):
        found = worst_case(
            batch,
            theta,
            scale=np.ones_like(theta),
            rho=settings.rho,
            p="2",
            steps=settings.steps,
            tol=settings.tol,
            seed=seed + k,
        )
        size = int(batch.x.shape[0])
        total += size * found["rise"]
        weight += size
        converged += found["converged"]
    return {"m_sharpness": total / weight, "converged_share": converged / len(batches)}


def pac_bayes_flatness(surface, theta, settings: PacBayes, *, seed: int = 0) -> dict:
    """Jiang et al.'s PAC-Bayes flatness (2020, Sec. 6 and Appendix C.3): the largest sigma with
    E_u[L(w + u)] - L(w) <= threshold for u ~ N(0, sigma^2 I), and the magnitude-aware sigma' with
    u_i ~ N(0, sigma'^2 w_i^2 + epsilon^2), by bisection on Monte Carlo estimates (the same draws
    for every sigma).

    Args:
        surface: the ``Surface`` L.
        theta: [B, D] points w.
        settings: the quantity (loss or error), threshold, epsilon, samples and bisections.
        seed: the seed of the draws.

    Returns:
        {"sigma", "sigma_mag", "pacbayes_flatness" (1 / sigma^2), "pacbayes_mag_flatness" (1 /
            sigma'^2), "sigma_error", "sigma_mag_error" (the Monte Carlo standard error of the rise
            at each sigma)}: [B] each; sigma is inf where no noise raises the quantity past the
            threshold.
    """
    theta = np.asarray(theta, np.float64)
    measure = surface.error if settings.quantity == "error" else surface.loss
    base = measure(theta)
    draws = np.random.default_rng([seed, 3]).standard_normal((settings.samples, *theta.shape))
    out = {}
    for name, spread in (
        ("sigma", lambda s: s[None, :, None] * draws),
        (
            "sigma_mag",
            lambda s: (
                draws * np.sqrt(s[None, :, None] ** 2 * theta[None] ** 2 + settings.epsilon**2)
            ),
        ),
    ):

        def rise(sigma):
            points = (theta[None] + spread(sigma)).reshape(-1, theta.shape[1])
            values = measure(points).reshape(settings.samples, -1) - base[None]
            return values.mean(axis=0), values

        sigma, error = bisect(rise, settings.threshold, steps=settings.bisections, n=len(theta))
        out[name] = sigma
        out[f"{name}_error"] = error
        out["pacbayes_flatness" if name == "sigma" else "pacbayes_mag_flatness"] = 1.0 / sigma**2
    return out


def bisect(rise, threshold: float, *, steps: int, n: int):
    """The largest sigma with rise(sigma) <= threshold: doubled from 1 until it exceeds the
    threshold (at most ``DOUBLINGS`` times; infinity where it never does, as for a network at chance
    whose error no noise raises), then bisected.

    Args:
        rise: ``rise(sigma [n]) -> (mean [n], values [samples, n])``, the expected rise and its
            draws.
        threshold: the rise allowed.
        steps: the bisection steps.
        n: the number of points.

    Returns:
        (sigma [n], the Monte Carlo standard error of the rise at it [n]).
    """
    lo, hi = np.zeros(n), np.ones(n)
    bounded = np.zeros(n, bool)
    for _ in range(DOUBLINGS):
        bounded |= rise(hi)[0] > threshold
        if bounded.all():
            break
        lo, hi = np.where(bounded, lo, hi), np.where(bounded, hi, 2 * hi)
    for _ in range(steps):
        mid = (lo + hi) / 2
        above = rise(mid)[0] > threshold
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    _, values = rise(np.maximum(lo, 1e-300))
    samples = values.shape[0]
    error = values.std(axis=0, ddof=1) / np.sqrt(samples) if samples > 1 else np.inf
    return np.where(bounded, lo, np.inf), error


def hessian_measures(
    objective, theta, x=None, *, y=None, steps: int = 100, samples: int = 100, seed: int = 0
):
    """The Hessian's largest eigenvalue, trace and Frobenius norm at each point: exact (its float64
    spectrum) up to D = ``EXACT_MAX_PARAMS_FEW``, else the largest Ritz value of Lanczos and
    Hutchinson's estimates (tr H = E v^T H v, ||H||_F^2 = E |H v|^2, v Rademacher).

    Args:
        objective: an ``fla.core.objective.Objective``.
        theta: [B, D] points.
        x: patterns (default the training set).
        y: their labels.
        steps: the most Lanczos steps.
        samples: Hutchinson's Rademacher vectors.
        seed: the seed of the start and Rademacher vectors.

    Returns:
        {"hessian_max", "hessian_trace", "hessian_frobenius"}: [B] each.
    """
    import tensorflow as tf

    from fla.curvature.classes import EXACT_MAX_PARAMS_FEW
    from fla.curvature.lanczos import Hessian

    theta = np.atleast_2d(np.asarray(theta))
    if theta.shape[1] <= EXACT_MAX_PARAMS_FEW:
        x = objective.x_train if x is None else tf.constant(x, objective.dtype)
        y = objective.y_train if y is None else tf.constant(y, tf.int32)
        hessians = objective.hessian_at(tf.constant(theta, objective.dtype), x, y)
        eigs = np.linalg.eigvalsh(hessians.numpy().astype(np.float64))
        return {
            "hessian_max": eigs[:, -1],
            "hessian_trace": eigs.sum(axis=1),
            "hessian_frobenius": np.sqrt((eigs**2).sum(axis=1)),
        }
    h = Hessian(objective, theta, x, y=y, seed=seed)
    top = h.eigenvalues(max_steps=steps)["max"][:, 0]
    rng = np.random.default_rng([seed, 4])
    trace, square = np.zeros(len(theta)), np.zeros(len(theta))
    for _ in range(samples):
        v = rng.choice([-1.0, 1.0], theta.shape)
        hv = h.hvp(v)
        trace += np.einsum("bd,bd->b", v, hv)
        square += np.einsum("bd,bd->b", hv, hv)
    return {
        "hessian_max": top,
        "hessian_trace": trace / samples,
        "hessian_frobenius": np.sqrt(square / samples),
    }
