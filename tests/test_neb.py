"""NEB and AutoNEB against known saddles of analytic surfaces (fla.surfaces cites the values)."""
import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

from fla.neb import DENSE, Energy, autoneb, insert_pivots, neb, respace, tangents
from fla.networks import MLP
from fla.objective import Objective
from fla.problems import xor
from fla.surfaces import HIMMELBLAU, MUELLER_BROWN, himmelblau, mueller_brown


def stationary_point(f, guess):
    """Independent check: Newton-type root of the gradient from the cited point."""
    energy = Energy(f, tf.float64)
    root = scipy.optimize.root(lambda p: energy(p[None])[1][0], guess, tol=1e-12)
    return root.x, energy.values(root.x[None])[0]


def hessian_index(f, point):
    """Number of negative eigenvalues of the Hessian at point, by automatic differentiation in float64."""
    theta = tf.constant(np.asarray(point, np.float64)[None])
    with tf.GradientTape() as outer:
        outer.watch(theta)
        with tf.GradientTape() as inner:
            inner.watch(theta)
            value = f(theta)
        grad = inner.gradient(value, theta)
    hess = outer.batch_jacobian(grad, theta).numpy()[0]
    return int((np.linalg.eigvalsh(0.5 * (hess + hess.T)) < 0).sum())


@pytest.mark.parametrize("surface, f", [(MUELLER_BROWN, mueller_brown), (HIMMELBLAU, himmelblau)])
def test_cited_stationary_points_are_stationary_with_their_hessian_index(surface, f):
    for kind, index in (("minima", 0), ("saddles", 1)):
        for point, value in surface[kind].values():
            x, e = stationary_point(f, point)
            np.testing.assert_allclose(x, point, atol=1e-5)
            assert e == pytest.approx(value, abs=1e-4)
            assert hessian_index(f, x) == index  # a minimum has none, a transition state exactly one


@pytest.mark.parametrize("optimizer, lr, spring", [("sgd", 1e-4, None), ("sgd", 1e-4, 1.0), ("fire", 1e-3, None)])
def test_climbing_image_finds_the_mueller_brown_saddle(optimizer, lr, spring):
    a, b = (np.array(MUELLER_BROWN["minima"][k][0]) for k in "AB")
    path = neb(Energy(mueller_brown, tf.float64), a, b, pivots=15, steps=2000, lr=lr, optimizer=optimizer,
               spring=spring, climb=True)
    point, value = MUELLER_BROWN["saddles"]["S1"]
    assert path.losses.max() == pytest.approx(value, rel=1e-3)
    np.testing.assert_allclose(path.pivots[np.argmax(path.losses)], point, atol=5e-3)
    assert path.saddle_loss == pytest.approx(value, rel=1e-3)


def test_climbing_image_finds_the_himmelblau_saddle():
    a, b = (np.array(HIMMELBLAU["minima"][k][0]) for k in "AB")
    path = neb(Energy(himmelblau, tf.float64), a, b, pivots=9, steps=2000, lr=1e-3, climb=True)
    assert path.losses.max() == pytest.approx(HIMMELBLAU["saddles"]["AB"][1], rel=1e-3)


def test_without_climbing_the_band_lies_on_the_minimum_energy_path():
    a, b = (np.array(MUELLER_BROWN["minima"][k][0]) for k in "AB")
    energy = Energy(mueller_brown, tf.float64)
    path = neb(energy, a, b, pivots=20, steps=3000, lr=1e-4)
    values, grads = energy(path.pivots[1:-1])
    tau = tangents(path.pivots, path.losses)
    perpendicular = grads - np.einsum("pd,pd->p", grads, tau)[:, None] * tau
    assert np.linalg.norm(perpendicular, axis=1).max() < 1e-3 * np.linalg.norm(grads, axis=1).max()
    gaps = np.linalg.norm(np.diff(path.pivots, axis=0), axis=1)
    np.testing.assert_allclose(gaps, gaps.mean(), rtol=1e-6)  # equally respaced
    # the path visits the intermediate minimum C and both saddles
    c = np.array(MUELLER_BROWN["minima"]["C"][0])
    assert np.linalg.norm(path.dense_params - c, axis=1).min() < 0.05
    assert path.saddle_loss == pytest.approx(MUELLER_BROWN["saddles"]["S1"][1], rel=2e-2)


def test_tangent_at_an_extremum_follows_henkelman_and_jonsson():
    pivots = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    plus, minus = np.array([0.0, 2.0]), np.array([1.0, 0.0])
    # a maximum (V_i above both neighbours), the next neighbour higher: dV_max weights tau+
    tau = tangents(pivots, np.array([0.0, 5.0, 4.0]))[0]  # dV_max = |0 - 5| = 5, dV_min = |4 - 5| = 1
    expected = plus * 5.0 + minus * 1.0
    np.testing.assert_allclose(tau, expected / np.linalg.norm(expected))
    # the previous neighbour higher: dV_max weights tau-
    tau = tangents(pivots, np.array([4.0, 5.0, 0.0]))[0]
    expected = plus * 1.0 + minus * 5.0
    np.testing.assert_allclose(tau, expected / np.linalg.norm(expected))
    # rising through the pivot: tau+ alone
    np.testing.assert_allclose(tangents(pivots, np.array([0.0, 1.0, 2.0]))[0], [0.0, 1.0])


def test_respacing_keeps_the_band_and_equalises_arc_length():
    band = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 0.0], [1.0, 1.0]])
    out = respace(band)
    np.testing.assert_allclose(out, [[0, 0], [2 / 3, 0], [1, 1 / 3], [1, 1]], atol=1e-12)


def test_autoneb_inserts_pivots_where_the_loss_rises_above_the_line():
    pivots = np.array([[0.0], [1.0], [2.0]])
    params = np.linspace(0, 2, 2 * (DENSE + 1) + 1)[:, None]
    losses = np.where(params[:, 0] < 1, 10 * np.sin(np.pi * params[:, 0]), 0.1 * (params[:, 0] - 1))
    out = insert_pivots(pivots, params, losses, threshold=0.2, max_pivots=10)
    assert len(out) == 4 and out[1, 0] == pytest.approx(0.5)  # one pivot at the bump, none after it
    a, b = (np.array(MUELLER_BROWN["minima"][k][0]) for k in "AB")
    energy = Energy(mueller_brown, tf.float64)
    path = autoneb(energy, a, b, schedule=[(1e-4, 200)] * 4 + [(1e-5, 300)] * 2, pivots=0, climb=True)
    assert len(path.pivots) > 3  # started with none inside; AutoNEB added some
    assert path.saddle_loss == pytest.approx(MUELLER_BROWN["saddles"]["S1"][1], rel=1e-2)


def test_neb_over_a_network_objective_and_a_plain_function_agree():
    f = Objective(MLP(2, 2, 1, 1), xor(), tf.float64)
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-2, 2, (2, 9))
    through_objective = neb(Energy(f, tf.float64), a, b, pivots=4, steps=50, lr=0.01)
    through_function = neb(Energy(f.loss_at_train, tf.float64), a, b, pivots=4, steps=50, lr=0.01)
    np.testing.assert_allclose(through_objective.pivots, through_function.pivots)
    straight = f(np.linspace(0, 1, 50)[:, None] * (b - a) + a).numpy()
    assert through_objective.saddle_loss <= straight.max() + 1e-9
