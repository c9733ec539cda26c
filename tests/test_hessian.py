"""Lanczos, Hutchinson and SLQ against exact eigendecompositions of small networks' Hessians."""

import numpy as np
import pytest
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.problems import xor
from fla.curvature.lanczos import Hessian


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5)).astype(np.float32)
    y = rng.integers(0, 3, 12).astype(np.int32)
    from fla.core.problems import Problem

    toy = Problem("toy3", x, y, None, None, n_inputs=5, n_outputs=3, kind="multiclass")
    out = []
    for f in (
        Objective(MLP(2, 4, 2, 1), xor(), tf.float64),
        Objective(MLP(5, 6, 1, 3), toy, tf.float64),
    ):
        theta = rng.uniform(-1, 1, (3, f.n_params))
        out.append((f, theta, np.linalg.eigvalsh(f.hessian(theta).numpy())))
    # near-singular: the XOR net with one hidden unit's outgoing weight set to zero
    f = out[0][0]
    theta = out[0][1].copy()
    ((w_out, _),) = f.network.slices()[-1:]
    theta[:, w_out.start] = 0.0
    out.append((f, theta, np.linalg.eigvalsh(f.hessian(theta).numpy())))
    return out


def test_extreme_eigenvalues_match_the_exact_spectrum(cases):
    for f, theta, exact in cases:
        result = Hessian(f, theta, seed=1).eigenvalues(k=3, tol=1e-6, max_steps=f.n_params)
        scale = np.abs(exact).max(axis=1, keepdims=True)
        assert result["converged"].all()
        np.testing.assert_allclose(result["min"], exact[:, :3], atol=1e-5 * scale.max())
        np.testing.assert_allclose(result["max"], exact[:, ::-1][:, :3], atol=1e-5 * scale.max())


def test_near_singular_hessian_has_a_zero_eigenvalue_found(cases):
    f, theta, exact = cases[-1]
    assert (np.abs(exact).min(axis=1) < 1e-8 * np.abs(exact).max(axis=1)).all()
    full = Hessian(f, theta).lanczos(f.n_params)
    values = Hessian.ritz(*full[:2])[0]
    np.testing.assert_allclose(values, exact, atol=1e-8 * np.abs(exact).max())


def test_lanczos_basis_is_orthonormal(cases):
    f, theta, _ = cases[1]
    _, _, basis = Hessian(f, theta).lanczos(20)
    gram = np.einsum("bid,bjd->bij", basis, basis)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(20), gram.shape), atol=1e-10)


def test_hutchinson_trace_is_unbiased_within_its_error(cases):
    for f, theta, exact in cases[:2]:
        estimate, error = Hessian(f, theta, seed=2).trace(samples=400)
        assert (np.abs(estimate - exact.sum(axis=1)) <= 5 * error + 1e-9).all()


def test_slq_density_integrates_to_one_and_has_the_right_mean(cases):
    f, theta, exact = cases[1]
    grid, dens, nodes, weights = Hessian(f, theta, seed=3).density(vectors=30, steps=f.n_params)
    integral = np.trapezoid(dens, grid, axis=1)
    np.testing.assert_allclose(integral, 1.0, atol=1e-3)
    np.testing.assert_allclose(weights.sum(axis=2), 1.0, atol=1e-10)
    # with m = D the nodes are the exact eigenvalues
    np.testing.assert_allclose(np.sort(nodes[:, 0]), exact, atol=1e-8 * np.abs(exact).max())
    mean = (nodes * weights).sum(axis=2).mean(axis=1)  # Hutchinson-type estimate of tr(H) / D
    assert (np.abs(mean - exact.mean(axis=1)) < 0.5 * np.abs(exact).max(axis=1)).all()


class Quadratic:
    """A batched objective with a known Hessian H (the same at every point): hvp(theta, v) = v H."""

    def __init__(self, h):
        self.h = tf.constant(h, tf.float64)
        self.n_params = h.shape[0]
        self.dtype = tf.float64
        self.x_train = tf.zeros([1, 1], tf.float64)
        self.y_train = tf.zeros([1], tf.int32)

    def hvp_on(self, theta, v, x, y):
        return tf.matmul(tf.constant(v, tf.float64), self.h)


def test_slq_recovers_a_known_spectral_density():
    """Two clusters of eigenvalues, 30% near -1 and 70% near 2: SLQ's weights put that mass
    there."""
    rng = np.random.default_rng(5)
    spectrum = np.concatenate([rng.normal(-1.0, 0.05, 60), rng.normal(2.0, 0.05, 140)])
    q, _ = np.linalg.qr(rng.normal(size=(200, 200)))
    h = Hessian(Quadratic(q @ np.diag(spectrum) @ q.T), np.zeros((1, 200)), seed=2)
    grid, dens, nodes, weights = h.density(vectors=20, steps=60)
    mass_high = (weights * (nodes > 0.5)).sum() / 20
    assert mass_high == pytest.approx(0.7, abs=0.03)
    assert np.trapezoid(dens[0], grid[0]) == pytest.approx(1.0, abs=1e-3)
    step = grid[0, 1] - grid[0, 0]
    assert (dens[0] * step)[grid[0] > 0.5].sum() == pytest.approx(0.7, abs=0.03)
    assert nodes.min() == pytest.approx(spectrum.min(), abs=0.02) and nodes.max() == pytest.approx(
        spectrum.max(), abs=0.02
    )
