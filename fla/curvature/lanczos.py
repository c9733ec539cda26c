"""Hessian spectra of large networks from Hessian-vector products, for several points at once.

For D too large for a full Hessian (MNIST: D = 7,960 to 79,510), the spectrum is probed through
batched Hessian-vector products H(theta_b) v_b (``fla.core.objective.Objective.hvp_at``):

- ``eigenvalues(k)``: Lanczos (Lanczos 1950; Golub and Van Loan, Matrix Computations, 4th ed.,
  Algorithm 10.1.1) with full reorthogonalisation, run on B points side by side. The Ritz values of
  the tridiagonal T_m approximate the extreme eigenvalues first; a Ritz value theta_i counts as
  converged when its residual bound beta_m |s_{m,i}| (Golub and Van Loan, eq. 10.1.9) is at most
  ``tol`` x max_i |theta_i|.
- ``trace()``: Hutchinson's estimator, tr(H) = E[z^T H z] for Rademacher z, with its standard error.
- ``density()``: stochastic Lanczos quadrature (Golub and Meurant; Ghorbani, Krishnan and Xiao 2019,
  as PyHessian does): per Rademacher start vector, m Lanczos steps give nodes (Ritz values) and
  weights (squared first components of T_m's eigenvectors), smoothed by a Gaussian.

    >>> h = Hessian(objective, theta)          # theta [B, D]; the training set, or pass x, y
    >>> h.eigenvalues(k=1)                     # {'min': [B, 1], 'max': [B, 1], 'converged': [B]}
    >>> h.trace(), h.density()

The Lanczos recurrence itself runs in float64 numpy on the host (one batched HVP call per iteration
for all B points); the HVPs, which carry the cost, are one compiled TensorFlow program.
"""

from __future__ import annotations

import numpy as np


def orthogonalise(w: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """w minus its projection on an orthonormal basis, by classical Gram-Schmidt run twice (Kahan
    and Parlett's "twice is enough").

    Args:
        w: [B, D] one vector per point.
        basis: [B, j, D] orthonormal rows per point.

    Returns:
        [B, D] w orthogonal to its point's basis.
    """
    for _ in range(2):
        w = w - np.einsum("bjd,bj->bd", basis, np.einsum("bjd,bd->bj", basis, w))
    return w


def asymmetry(w: np.ndarray, basis: np.ndarray, coupling) -> np.ndarray:
    """How far the products are from one symmetric operator: with w = H v_j and the basis v_0 ..
    v_j, exact arithmetic gives v_{j-1}^T H v_j = beta_{j-1} (the coupling that made v_j) and v_i^T
    H v_j = 0 for i < j - 1 (Golub and Van Loan, Sec. 10.1.1), so the largest departure is a lower
    bound on the products' error |v_i^T (H - H^T) v_j| (rounding, or an operator that is not a
    Hessian).

    Args:
        w: [B, D] the product H v_j of each point.
        basis: [B, j + 1, D] the Lanczos vectors v_0 .. v_j.
        coupling: [B] (or 0 at j = 0) beta_{j-1}.

    Returns:
        [B] the largest departure.
    """
    j = basis.shape[1] - 1
    if j == 0:
        return np.zeros(len(w))
    c = np.einsum("bjd,bd->bj", basis[:, :j], w)
    c[:, j - 1] -= coupling
    return np.abs(c).max(axis=1)


def batched_hvp(fn):
    """A compiled Hessian-vector product by double backpropagation, H v = d/dtheta (grad L(theta) .
    v) (Pearlmutter 1994), for all points in one call.

    Args:
        fn: a TensorFlow function of points [B, D] returning losses [B]; rows must not interact.

    Returns:
        hvp(theta [B, D], v [B, D]) -> [B, D] H(theta_b) v_b.
    """
    import tensorflow as tf

    @tf.function(reduce_retracing=True, autograph=False)
    def hvp(theta, v):
        with tf.GradientTape() as outer:
            outer.watch(theta)
            with tf.GradientTape() as inner:
                inner.watch(theta)
                total = tf.reduce_sum(fn(theta))
            grad = inner.gradient(total, theta)
            directional = tf.reduce_sum(grad * v)
        return outer.gradient(directional, theta)

    return hvp


class Hessian:
    """The Hessians of a batched loss at points theta [B, D].

    ``loss`` is an ``fla.core.objective.Objective`` (its own batched HVP, on patterns x, y, by
    default the training set), any object with a batched loss ``loss_at_train`` (e.g.
    ``fla.zoo.objective.KerasObjective``), or any TensorFlow function of [B, D] points
    returning [B] losses; for the last two the HVP is built by double backpropagation, H v =
    d/dtheta (grad L(theta) . v) (Pearlmutter 1994), all B points in one compiled call.
    """

    def __init__(self, loss, theta, x=None, *, y=None, seed: int = 0, project=None, nulls=None):
        """The Hessians of ``loss`` at theta, ready for products.

        Args:
            loss: an ``fla.core.objective.Objective``, an object with a batched ``loss_at_train``,
                or a TensorFlow function of points [B, D] returning [B] losses.
            theta: [B, D] the points (or [D], one point).
            x: [N, n_in] patterns shared by all points or [B, N, n_in] one set per point (Objective
                only; default its training set).
            y: the matching labels (Objective only).
            seed: the seed of the start and random vectors.
            project: v [B, D] -> v [B, D], an orthogonal projection
                (``fla.core.symmetries.projector``'s) whose removed directions H maps to 0: every
                Krylov space is restricted to its range, giving the reduced Hessian.
            nulls: [B] the directions ``project`` removes at each point.

        Raises:
            ValueError: theta of the wrong width, or patterns given with a loss function.
        """
        import tensorflow as tf

        self.objective = loss
        dtype = getattr(loss, "dtype", tf.float32)
        self.dtype = dtype.as_numpy_dtype
        self.theta = np.atleast_2d(np.asarray(theta, self.dtype))
        n_params = getattr(loss, "n_params", self.theta.shape[1])
        if self.theta.shape[1] != n_params:
            raise ValueError(f"theta must be [B, {n_params}], got {list(self.theta.shape)}")
        if hasattr(loss, "hvp_on"):
            x = loss.x_train if x is None else tf.convert_to_tensor(x, loss.dtype)
            y = loss.y_train if y is None else tf.convert_to_tensor(y, tf.int32)
            self._hvp = lambda theta, v: loss.hvp_on(theta, v, x, y=y)
        else:
            if x is not None or y is not None:
                raise ValueError(
                    "patterns x, y apply to an fla Objective only; a loss function carries its own"
                )
            self._hvp = batched_hvp(loss.loss_at_train if hasattr(loss, "loss_at_train") else loss)
        self.rng = np.random.default_rng(seed)
        self.hvp_calls = 0
        self.project = project if project is not None else (lambda v: v)
        self.reduced_dim = self.dim - int(np.max(nulls, initial=0)) if project else self.dim

    @property
    def batch(self) -> int:
        """B, the number of points."""
        return self.theta.shape[0]

    @property
    def dim(self) -> int:
        """D, the number of parameters."""
        return self.theta.shape[1]

    def hvp(self, v: np.ndarray) -> np.ndarray:
        """One batched product H(theta_b) v_b (counted in ``hvp_calls``).

        Args:
            v: [B, D] one vector per point (float64; computed in the loss's precision).

        Returns:
            [B, D] float64 products.
        """
        self.hvp_calls += 1
        return self._hvp(self.theta, v.astype(self.dtype)).numpy().astype(np.float64)

    def lanczos(
        self, steps: int, start: np.ndarray | None = None, stop=None, *, check_every: int = 10
    ):
        """Up to m = min(steps, D) Lanczos steps (Golub and Van Loan, Algorithm 10.1.1), fully
        reorthogonalised, on every point at once.

        On breakdown (an invariant subspace found) the recurrence restarts from a random vector
        orthogonal to V with a zero coupling, so that the Ritz values stay those of H restricted to
        the Krylov space.

        Args:
            steps: the most steps m.
            start: [B, D] start vectors (default Gaussian; projected and normalised).
            stop: ``stop(alpha, beta) -> bool``, asked every ``check_every`` steps whether to end
                early.
            check_every: steps between questions to ``stop``.

        Returns:
            (alpha [B, m], beta [B, m], V [B, m, D]) for the m steps taken: beta[:, j] couples steps
                j and j + 1, the last one is the residual norm; V the Lanczos basis.
        """
        m = max(1, min(steps, self.reduced_dim))
        v = (
            self.rng.standard_normal((self.batch, self.dim))
            if start is None
            else np.array(start, np.float64)
        )
        v = self.project(v)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        basis = np.empty((self.batch, m, self.dim))  # row j is written before it is read
        alpha, beta = np.zeros((self.batch, m)), np.zeros((self.batch, m))
        self.product_error = np.zeros(self.batch)
        for j in range(m):
            basis[:, j] = v
            w = self.project(self.hvp(v))
            alpha[:, j] = np.einsum("bd,bd->b", w, v)
            self.product_error = np.maximum(
                self.product_error, asymmetry(w, basis[:, : j + 1], beta[:, j - 1] if j else 0.0)
            )
            w = orthogonalise(w, basis[:, : j + 1])
            beta[:, j] = np.linalg.norm(w, axis=1)
            if j + 1 == m:
                break
            if (
                stop is not None
                and (j + 1) % check_every == 0
                and stop(alpha[:, : j + 1], beta[:, : j + 1])
            ):
                return alpha[:, : j + 1], beta[:, : j + 1], basis[:, : j + 1]
            scale = np.abs(alpha[:, : j + 1]).max(axis=1) + 1e-30
            broken = beta[:, j] <= 1e-10 * scale
            if broken.any():
                fresh = self.project(self.rng.standard_normal((self.batch, self.dim)))
                w[broken] = fresh[broken]
                w = orthogonalise(w, basis[:, : j + 1])
                beta[broken, j] = 0.0
            v = w / np.linalg.norm(w, axis=1, keepdims=True)
        return alpha, beta, basis

    @staticmethod
    def ritz(alpha: np.ndarray, beta: np.ndarray):
        """The Ritz pairs of the tridiagonal T_m of a Lanczos run and their residual bounds beta_m
        |s_{m,i}| (Golub and Van Loan, eq. 10.1.9).

        Args:
            alpha: [B, m] T_m's diagonal.
            beta: [B, m] its couplings, the last one the residual norm.

        Returns:
            (values [B, m] ascending, eigenvectors of T_m [B, m, m], residual bounds [B, m]).
        """
        m = alpha.shape[1]
        t = np.zeros(alpha.shape + (m,))
        idx = np.arange(m)
        t[:, idx, idx] = alpha
        t[:, idx[:-1], idx[1:]] = beta[:, :-1]
        t[:, idx[1:], idx[:-1]] = beta[:, :-1]
        values, vectors = np.linalg.eigh(t)
        residuals = np.abs(beta[:, -1:] * vectors[:, -1, :])
        return values, vectors, residuals

    def eigenvalues(
        self, k: int = 1, tol: float = 1e-3, max_steps: int = 200, *, check_every: int = 10
    ) -> dict:
        """The k smallest and k largest eigenvalues of each point's Hessian, by Lanczos.

        Lanczos runs until the k extreme Ritz values at both ends have residual bounds <= tol x
        max|Ritz value| (checked every ``check_every`` steps) or ``max_steps`` is reached. A point
        converges only when the products' own error (``asymmetry``, relative to max|Ritz value|) is
        also at most ``tol``: products whose error exceeds the accuracy asked for cannot deliver it,
        whatever the residuals say.

        Args:
            k: how many eigenvalues at each end.
            tol: the relative accuracy asked for.
            max_steps: the most Lanczos steps.
            check_every: steps between convergence checks.

        Returns:
            {"min": [B, k] ascending, "max": [B, k] descending, "converged": [B] bool, "steps": the
                Lanczos steps taken, "residual": [B] the largest relative bound among the 2k values,
                "product_error": [B]}.
        """
        kk = min(k, self.reduced_dim)

        def relative_residuals(alpha, beta):
            values, _, residuals = self.ritz(alpha, beta)
            scale = np.abs(values).max(axis=1, keepdims=True) + 1e-30
            ends = np.concatenate([residuals[:, :kk], residuals[:, -kk:]], axis=1) / scale
            return values, ends.max(axis=1)

        def converged(alpha, beta):
            return alpha.shape[1] >= 2 * kk and bool(
                (relative_residuals(alpha, beta)[1] <= tol).all()
            )

        alpha, beta, _ = self.lanczos(max_steps, stop=converged, check_every=check_every)
        values, worst = relative_residuals(alpha, beta)
        scale = np.abs(values).max(axis=1) + 1e-30
        accuracy = self.product_error / scale
        return {
            "min": values[:, :kk],
            "max": values[:, ::-1][:, :kk],
            "converged": (worst <= tol) & (accuracy <= tol) & np.isfinite(values).all(axis=1),
            "steps": alpha.shape[1],
            "residual": worst,
            "product_error": accuracy,
        }

    def top_eigenvectors(self, k: int = 1, tol: float = 1e-4, max_steps: int = 200):
        """The k largest eigenvalues and their unit eigenvectors, as Ritz pairs (Golub and Van Loan,
        Sec. 10.1.4: V_m s_i for the eigenvectors s_i of T_m); at m = D steps the pairs are exact.

        Args:
            k: how many.
            tol: residual bound, relative to max|Ritz value|, at which a pair has converged.
            max_steps: the most Lanczos steps.

        Returns:
            (values [B, k] descending, vectors [B, k, D], converged [B]).
        """
        kk = min(k, self.dim)

        def converged(alpha, beta):
            values, _, residuals = self.ritz(alpha, beta)
            scale = np.abs(values).max(axis=1) + 1e-30
            return alpha.shape[1] >= kk and bool(
                (residuals[:, -kk:].max(axis=1) <= tol * scale).all()
            )

        alpha, beta, basis = self.lanczos(max_steps, stop=converged)
        values, vectors, residuals = self.ritz(alpha, beta)
        scale = np.abs(values).max(axis=1) + 1e-30
        top = vectors[:, :, ::-1][:, :, :kk]  # [B, m, k], largest first
        eigvecs = np.einsum("bmd,bmk->bkd", basis, top)
        eigvecs /= np.linalg.norm(eigvecs, axis=2, keepdims=True)
        done = residuals[:, ::-1][:, :kk].max(axis=1) <= tol * scale
        return values[:, ::-1][:, :kk], eigvecs, done

    def trace(self, samples: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """Hutchinson's estimate of tr(H) = E[z^T H z] for Rademacher z, per point.

        Args:
            samples: the number of z drawn.

        Returns:
            (trace [B], its standard error [B]).
        """
        estimates = np.zeros((samples, self.batch))
        for i in range(samples):
            z = self.rng.choice([-1.0, 1.0], size=(self.batch, self.dim))
            estimates[i] = np.einsum("bd,bd->b", z, self.hvp(z))
        return estimates.mean(0), estimates.std(0, ddof=1) / np.sqrt(samples)

    def density(
        self, vectors: int = 5, steps: int = 60, grid: int = 500, *, sigma: float | None = None
    ):
        """The spectral density of each point's Hessian by stochastic Lanczos quadrature (Golub and
        Meurant; Ghorbani, Krishnan and Xiao 2019): per Rademacher start vector, m Lanczos steps
        give nodes (Ritz values) and weights (squared first components of T_m's eigenvectors),
        smoothed by a Gaussian.

        Args:
            vectors: the number of start vectors.
            steps: m, the Lanczos steps per vector.
            grid: the points of the density's grid.
            sigma: the Gaussian's width (default 1% of each point's spectral range).

        Returns:
            (grid [B, grid], density [B, grid] integrating to 1 over the grid, nodes [B, vectors,
                m], weights [B, vectors, m]).
        """
        m = min(steps, self.dim)
        nodes = np.zeros((self.batch, vectors, m))
        weights = np.zeros((self.batch, vectors, m))
        for i in range(vectors):
            z = self.rng.choice([-1.0, 1.0], size=(self.batch, self.dim))
            alpha, beta, _ = self.lanczos(m, z)
            values, vecs, _ = self.ritz(alpha, beta)
            nodes[:, i], weights[:, i] = values, vecs[:, 0, :] ** 2
        lo, hi = nodes.min(axis=(1, 2)), nodes.max(axis=(1, 2))
        width = np.maximum(hi - lo, 1e-12)
        sigma = 0.01 * width if sigma is None else np.full(self.batch, sigma)
        t = np.linspace(lo - 3 * sigma, hi + 3 * sigma, grid, axis=1)  # [B, grid]
        diff = t[:, :, None, None] - nodes[:, None]
        kernel = np.exp(-0.5 * (diff / sigma[:, None, None, None]) ** 2) / (
            sigma[:, None, None, None] * np.sqrt(2 * np.pi)
        )
        dens = (kernel * weights[:, None]).sum(axis=(2, 3)) / vectors
        return t, dens, nodes, weights
