"""Mode-connecting curves (Garipov et al. 2018) against analytic optima and known surfaces."""

import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf
from helpers import nan_on_calls

from fla.paths.curves import (
    Bezier,
    NonFiniteCurveError,
    PolyChain,
    bezier_weights,
    polychain_weights,
)
from fla.paths.neb import neb
from fla.paths.record import Energy, straight_line
from fla.paths.surfaces import HIMMELBLAU, MUELLER_BROWN, himmelblau, mueller_brown, tilted_ring


def test_curve_weights_interpolate_the_endpoints_and_sum_to_one():
    t = np.linspace(0, 1, 61)
    for weights in (bezier_weights(t, 3), polychain_weights(t, 3)):
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-14)
        assert list(weights[0]) == [1, 0, 0, 0, 0] and list(weights[-1]) == [0, 0, 0, 0, 1]
    np.testing.assert_allclose(bezier_weights(np.array([0.5]), 1), [[0.25, 0.5, 0.25]])
    np.testing.assert_allclose(
        polychain_weights(np.array([0.25, 0.5]), 1), [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]]
    )


@pytest.mark.parametrize(
    "method, optimum",
    [
        # argmin of int |phi(t) - c|^2 dt
        (
            Bezier(steps=2000),
            lambda a, b, c: 2.5 * c - 0.75 * (a + b),
        ),
        # (normal equations, by hand)
        (
            PolyChain(steps=2000),
            lambda a, b, c: 1.5 * c - 0.25 * (a + b),
        ),
    ],
)
def test_training_minimises_the_expected_loss_over_t(method, optimum):
    """For L(w) = |w - c|^2 the bend minimising E_t L(phi(t)) solves a 1-unknown least-squares
    problem."""
    a, b, c = np.array([0.0, 0.0, 1.0]), np.array([2.0, 1.0, 0.0]), np.array([1.0, 2.0, -1.0])
    energy = Energy(lambda w: tf.reduce_sum((w - tf.constant(c, w.dtype)) ** 2, axis=1), tf.float64)
    path = method.connect(energy, a, b)
    np.testing.assert_allclose(path.points[1], optimum(a, b, c), atol=2e-2)


def test_endpoints_reproduce_the_endpoint_losses_exactly_and_draws_follow_the_seed():
    a, b = (np.array(HIMMELBLAU["minima"][k][0]) for k in "AB")
    energy = Energy(himmelblau, tf.float64)
    first = Bezier(steps=200).connect(energy, a, b)
    assert (
        first.dense_losses[0] == energy.values(a[None])[0]
        and first.dense_losses[-1] == energy.values(b[None])[0]
    )
    np.testing.assert_array_equal(first.dense_params[[0, -1]], [a, b])
    assert len(first.dense_losses) == 61
    np.testing.assert_array_equal(Bezier(steps=200).connect(energy, a, b).points, first.points)
    assert not np.array_equal(Bezier(steps=200, seed=1).connect(energy, a, b).points, first.points)


@pytest.mark.parametrize("method", [Bezier(), PolyChain(bends=3)])
def test_curves_through_a_curved_valley_beat_the_line_and_approach_the_saddle(method):
    """The tilted ring: the straight line between its minima crosses the centre (f about 8.7), the
    minimum energy path follows the ring over a saddle near 0.5 below zero. A trained curve closes
    at least 90% of the gap between the line's highest loss and the climbing-image NEB saddle."""
    energy = Energy(tilted_ring, tf.float64)
    ends = [
        scipy.optimize.minimize(
            lambda p: energy(p[None])[0][0],
            guess,
            jac=lambda p: energy(p[None])[1][0],
            method="BFGS",
            options={"gtol": 1e-10},
        ).x
        for guess in ([-1, 0], [1, 0])
    ]
    curve, line = method.connect(energy, *ends), straight_line(energy, *ends)
    saddle = neb(energy, *ends, climb=True).saddle_loss
    # the ring's saddle
    top = scipy.optimize.root(lambda p: energy(p[None])[1][0], [0.0, 1.0], tol=1e-12).x
    assert line.saddle_loss > 8.5 and saddle == pytest.approx(energy.values(top[None])[0], rel=1e-3)
    assert saddle <= curve.saddle_loss <= saddle + 0.1 * (line.saddle_loss - saddle)
    a, b = (np.array(MUELLER_BROWN["minima"][k][0]) for k in "AB")
    energy = Energy(mueller_brown, tf.float64)
    assert method.connect(energy, a, b).saddle_loss < straight_line(energy, a, b).saddle_loss


def test_non_finite_steps_are_skipped_and_persistent_ones_are_an_error():
    a, b = (np.array(HIMMELBLAU["minima"][k][0]) for k in "AB")
    recovered = Bezier().connect(
        Energy(nan_on_calls(himmelblau, lambda n: (n >= 5) & (n < 9)), tf.float64), a, b
    )
    assert np.isfinite(recovered.dense_losses).all()
    assert recovered.saddle_loss < 1.05 * HIMMELBLAU["saddles"]["AB"][1]
    with pytest.raises(
        NonFiniteCurveError,
        match=r"bezier: non-finite loss or gradient at step 1[0-9], still after 8",
    ):
        Bezier().connect(Energy(nan_on_calls(himmelblau, lambda n: n >= 5), tf.float64), a, b)
