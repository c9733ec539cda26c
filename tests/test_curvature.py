"""Curvature classes against hand-built spectra, and the Hessian's own symmetry (issue 14)."""

import numpy as np
import pytest
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.curvature.classes import codes_arrow, curvature_class, curvature_codes, eigenvalues


@pytest.mark.parametrize(
    "spectrum, tolerance, expected",
    [
        ([0.5, 2.0, 3.0], 1e-5, "convex"),
        ([-3.0, -2.0, -0.5], 1e-5, "concave"),
        ([-1.0, 0.5, 2.0], 1e-5, "saddle"),
        ([1e-6, 1.0, 2.0], 1e-5, "flat"),  # |1e-6| <= 1e-5 x 2
        ([3e-5, 1.0, 2.0], 1e-5, "convex"),  # |3e-5| >  1e-5 x 2 ...
        ([3e-5, 1.0, 2.0], 1e-4, "flat"),  # ... but within 1e-4 x 2
        ([-1e-6, -1.0, -2.0], 1e-5, "flat"),
        ([-2.0, 0.0, 2.0], 1e-5, "flat"),  # a zero inside a saddle is flat: singular first
        ([0.0, 0.0, 0.0], 1e-5, "flat"),
        ([np.nan, 1.0, 2.0], 1e-5, None),
    ],
)
def test_curvature_classes_of_hand_built_spectra(spectrum, tolerance, expected):
    assert curvature_class(np.array([spectrum]), tolerance)[0] == expected
    codes = curvature_codes(np.array([spectrum]), tolerance)
    assert codes_arrow(codes).to_pylist() == [expected]


def test_eigenvalues_of_a_hand_built_hessian():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))
    spectrum = np.array([-2.0, -0.5, 0.0, 1.0, 4.0])
    h = q @ np.diag(spectrum) @ q.T
    np.testing.assert_allclose(
        eigenvalues(np.stack([h, -h])), [spectrum, np.sort(-spectrum)], atol=1e-12
    )


def test_the_hessian_is_symmetric_before_and_after_symmetrisation(multiclass_problem):
    net = MLP(5, 4, 2, 3)
    f = Objective(net, multiclass_problem)
    theta = tf.constant(np.random.default_rng(1).uniform(-1, 1, (3, net.n_params)), tf.float32)
    with tf.GradientTape() as outer:  # the raw second derivative, before fla symmetrises it
        outer.watch(theta)
        grad = f.gradient_at(theta, f.x_train, f.y_train)[2]
    raw = outer.batch_jacobian(grad, theta).numpy()
    scale = np.abs(raw).max()
    # symmetric up to float32 rounding
    assert np.abs(raw - raw.transpose(0, 2, 1)).max() <= 1e-5 * scale
    hess = f.hessian(theta.numpy()).numpy()
    np.testing.assert_array_equal(hess, hess.transpose(0, 2, 1))  # exactly symmetric as returned
    np.testing.assert_allclose(hess, raw, atol=1e-5 * scale)


def test_spectra_of_padded_xla_calls_equal_each_points_own_spectrum(monkeypatch):
    """From D = 64 Hessians are computed by XLA on calls padded to fixed sizes; the padding must not
    leak into the points' spectra (checked against float64 Hessians of each point alone)."""
    from fla.core.problems import xor
    from fla.walks import measure

    f = Objective(MLP(2, 20, 1, 1), xor())
    assert f.n_params >= measure.XLA_MIN_PARAMS
    # 7 Hessians a call: parts of 7, 7, 3 (padded)
    monkeypatch.setattr(measure, "HESSIAN_BYTES", 4 * 81 * 81 * 7)
    params = np.random.default_rng(4).uniform(-1, 1, (17, 81)).astype(np.float32)
    got = measure.spectra(
        f, params, measure.Patterns(f.problem.x_train, f.problem.y_train), blocks=False
    )
    f64 = Objective(MLP(2, 20, 1, 1), xor(), dtype=tf.float64)
    expected = np.stack(
        [np.linalg.eigvalsh(f64.hessian(p[None].astype(np.float64)).numpy()[0]) for p in params]
    )
    np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())
