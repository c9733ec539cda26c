"""NEB and AutoNEB against known saddles of analytic surfaces (fla.paths.surfaces cites the values),
their compiled geometry against independent numpy versions, and recovery from non-finite losses."""

import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf
from helpers import nan_on_calls

from fla.base.errors import ConfigError
from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.problems import xor
from fla.paths.band import forces, respace, tangents
from fla.paths.methods import path_method
from fla.paths.neb import DENSE, AutoNEB, autoneb, insert_pivots, neb
from fla.paths.record import Energy
from fla.paths.relax import NonFiniteBandError
from fla.paths.surfaces import (
    HIMMELBLAU,
    MUELLER_BROWN,
    WOLFE_QUAPP,
    himmelblau,
    mueller_brown,
    wolfe_quapp,
)

SURFACES = {
    "mueller_brown": (MUELLER_BROWN, mueller_brown, "AB", "S1"),
    "himmelblau": (HIMMELBLAU, himmelblau, "AB", "AB"),
    "wolfe_quapp": (WOLFE_QUAPP, wolfe_quapp, "AC", "AC"),
}


def ends_and_saddle(name):
    surface, f, pair, saddle = SURFACES[name]
    a, b = (np.array(surface["minima"][k][0]) for k in pair)
    point, value = surface["saddles"][saddle]
    return f, a, b, np.array(point), value


def stationary_point(f, guess):
    """Independent check: Newton-type root of the gradient from the cited point."""
    energy = Energy(f, tf.float64)
    root = scipy.optimize.root(lambda p: energy(p[None])[1][0], guess, tol=1e-12)
    return root.x, energy.values(root.x[None])[0]


def hessian_index(f, point):
    """Number of negative eigenvalues of the Hessian at point, by automatic differentiation in
    float64."""
    theta = tf.constant(np.asarray(point, np.float64)[None])
    with tf.GradientTape() as outer:
        outer.watch(theta)
        with tf.GradientTape() as inner:
            inner.watch(theta)
            value = f(theta)
        grad = inner.gradient(value, theta)
    hess = outer.batch_jacobian(grad, theta).numpy()[0]
    return int((np.linalg.eigvalsh(0.5 * (hess + hess.T)) < 0).sum())


@pytest.mark.parametrize(
    "surface, f",
    [(MUELLER_BROWN, mueller_brown), (HIMMELBLAU, himmelblau), (WOLFE_QUAPP, wolfe_quapp)],
)
def test_cited_stationary_points_are_stationary_with_their_hessian_index(surface, f):
    for kind, index in (("minima", 0), ("saddles", 1)):
        for point, value in surface[kind].values():
            x, e = stationary_point(f, point)
            np.testing.assert_allclose(x, point, atol=1e-5)
            assert e == pytest.approx(value, abs=1e-4)
            # a minimum has none, a transition state exactly one
            assert hessian_index(f, x) == index


@pytest.mark.parametrize("name", SURFACES)
def test_defaults_find_the_saddle_without_tuning(name):
    """neb(f, a, b, climb=True) and autoneb(f, a, b), nothing else given, on surfaces whose
    gradients span orders of magnitude (Mueller-Brown: |g| from 0 to ~1e3)."""
    f, a, b, point, value = ends_and_saddle(name)
    energy = Energy(f, tf.float64)
    for path in (neb(energy, a, b, climb=True), autoneb(energy, a, b)):
        assert np.isfinite(path.dense_losses).all()
        assert path.saddle_loss == pytest.approx(value, rel=1e-3)
        np.testing.assert_allclose(path.points[np.argmax(path.losses)], point, atol=5e-3)
    plain = neb(energy, a, b)  # no climbing image: the band's highest point lies near the saddle
    assert plain.saddle_loss == pytest.approx(value, rel=1e-2)


@pytest.mark.parametrize(
    "settings",
    [
        dict(optimizer="sgd", lr=1e-4, max_step=0),
        dict(optimizer="sgd", lr=1e-4, band="spring", spring=1.0),
        dict(band="spring", spring=1.0),
    ],
)
def test_climbing_image_variants_find_the_mueller_brown_saddle(settings):
    f, a, b, point, value = ends_and_saddle("mueller_brown")
    path = neb(Energy(f, tf.float64), a, b, pivots=15, steps=3000, climb=True, **settings)
    assert path.losses.max() == pytest.approx(value, rel=1e-3)
    np.testing.assert_allclose(path.points[np.argmax(path.losses)], point, atol=5e-3)


def test_without_climbing_the_band_lies_on_the_minimum_energy_path():
    f, a, b, _, _ = ends_and_saddle("mueller_brown")
    energy = Energy(f, tf.float64)
    path = neb(energy, a, b, pivots=20, steps=5000, tol=1e-4)
    values, grads = energy(path.points[1:-1])
    tau = reference_tangents(path.points, path.losses)
    perpendicular = grads - np.einsum("pd,pd->p", grads, tau)[:, None] * tau
    assert np.linalg.norm(perpendicular, axis=1).max() < 1e-3 * np.linalg.norm(grads, axis=1).max()
    gaps = np.linalg.norm(np.diff(path.points, axis=0), axis=1)
    np.testing.assert_allclose(gaps, gaps.mean(), rtol=1e-4)  # equally respaced (chords of the arc)
    c = np.array(MUELLER_BROWN["minima"]["C"][0])  # the path visits the intermediate minimum C
    assert np.linalg.norm(path.dense_params - c, axis=1).min() < 0.05
    assert path.saddle_loss == pytest.approx(MUELLER_BROWN["saddles"]["S1"][1], rel=2e-2)


# ---- the compiled geometry against independent numpy versions
# --------------------------------------


def reference_tangents(pivots, energies):
    """Henkelman and Jonsson (2000) eqs. 8-11, written out pivot by pivot."""
    out = []
    for i in range(1, len(pivots) - 1):
        plus, minus = pivots[i + 1] - pivots[i], pivots[i] - pivots[i - 1]
        e_prev, e, e_next = energies[i - 1], energies[i], energies[i + 1]
        if e_next > e > e_prev:
            tau = plus
        elif e_next < e < e_prev:
            tau = minus
        else:
            d_max = max(abs(e_next - e), abs(e_prev - e))
            d_min = min(abs(e_next - e), abs(e_prev - e))
            tau = plus * d_max + minus * d_min if e_next > e_prev else plus * d_min + minus * d_max
        out.append(tau / np.linalg.norm(tau))
    return np.array(out)


def reference_respace(pivots):
    """Equal arc-length points along the polyline, by numpy interpolation of each coordinate."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pivots, axis=0), axis=1))])
    targets = np.linspace(0, arc[-1], len(pivots))
    return np.stack([np.interp(targets, arc, pivots[:, d]) for d in range(pivots.shape[1])], axis=1)


def test_tangent_at_an_extremum_follows_henkelman_and_jonsson():
    pivots = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    plus, minus = np.array([0.0, 2.0]), np.array([1.0, 0.0])
    # a maximum (V_i above both neighbours), the next neighbour higher: dV_max weights tau+
    tau = tangents(tf.constant(pivots), tf.constant([0.0, 5.0, 4.0], tf.float64)).numpy()[0]
    expected = plus * 5.0 + minus * 1.0
    np.testing.assert_allclose(tau, expected / np.linalg.norm(expected))
    tau = tangents(tf.constant(pivots), tf.constant([4.0, 5.0, 0.0], tf.float64)).numpy()[0]
    expected = plus * 1.0 + minus * 5.0  # the previous neighbour higher: dV_max weights tau-
    np.testing.assert_allclose(tau, expected / np.linalg.norm(expected))
    rising = tangents(tf.constant(pivots), tf.constant([0.0, 1.0, 2.0], tf.float64)).numpy()[0]
    np.testing.assert_allclose(rising, [0.0, 1.0])  # rising through the pivot: tau+ alone


def test_compiled_tangents_forces_and_respacing_match_numpy():
    rng = np.random.default_rng(3)
    pivots, energies, grads = rng.normal(size=(9, 4)), rng.normal(size=9), rng.normal(size=(7, 4))
    tau = reference_tangents(pivots, energies)
    np.testing.assert_allclose(
        tangents(tf.constant(pivots), tf.constant(energies)).numpy(), tau, rtol=1e-12
    )
    perpendicular = -(grads - np.einsum("pd,pd->p", grads, tau)[:, None] * tau)
    gaps = np.linalg.norm(np.diff(pivots, axis=0), axis=1)
    springs = 2.0 * (gaps[1:] - gaps[:-1])[:, None] * tau
    got = forces(
        tf.constant(pivots), tf.constant(energies), tf.constant(grads), spring=2.0, climb=False
    ).numpy()
    np.testing.assert_allclose(got, perpendicular + springs, rtol=1e-10, atol=1e-12)
    top = int(np.argmax(energies[1:-1]))
    climbing = forces(
        tf.constant(pivots), tf.constant(energies), tf.constant(grads), spring=None, climb=True
    ).numpy()
    np.testing.assert_allclose(
        climbing[top], -grads[top] + 2 * grads[top] @ tau[top] * tau[top], rtol=1e-10
    )
    np.testing.assert_allclose(
        np.delete(climbing, top, 0), np.delete(perpendicular, top, 0), rtol=1e-10
    )
    np.testing.assert_allclose(
        respace(tf.constant(pivots)).numpy(), reference_respace(pivots), atol=1e-12
    )
    # the climbing pivot 4 stays; each side respaced alone
    held = respace(tf.constant(pivots), 4).numpy()
    np.testing.assert_allclose(held[:5], reference_respace(pivots[:5]), atol=1e-12)
    np.testing.assert_allclose(held[4:], reference_respace(pivots[4:]), atol=1e-12)


def test_autoneb_inserts_pivots_where_the_loss_rises_above_the_line():
    pivots = np.array([[0.0], [1.0], [2.0]])
    params = np.linspace(0, 2, 2 * (DENSE + 1) + 1)[:, None]
    losses = np.where(params[:, 0] < 1, 10 * np.sin(np.pi * params[:, 0]), 0.1 * (params[:, 0] - 1))
    out = insert_pivots(pivots, params, losses, threshold=0.2, max_pivots=10)
    assert len(out) == 4 and out[1, 0] == pytest.approx(0.5)  # one pivot at the bump, none after it
    f, a, b, _, value = ends_and_saddle("mueller_brown")
    path = autoneb(Energy(f, tf.float64), a, b, pivots=0)
    assert len(path.points) > 3  # started with none inside; AutoNEB added some
    assert path.saddle_loss == pytest.approx(value, rel=1e-3)


def test_paper_schedule_with_sgd_is_still_available():
    f, a, b, _, value = ends_and_saddle("himmelblau")
    path = autoneb(Energy(f, tf.float64), a, b, optimizer="sgd", schedule=[(1e-3, 500)] * 3)
    assert path.saddle_loss == pytest.approx(value, rel=1e-3)


def test_neb_over_a_network_objective_and_a_plain_function_agree():
    f = Objective(MLP(2, 2, 1, 1), xor(), tf.float64)
    a, b = np.random.default_rng(0).uniform(-2, 2, (2, 9))
    through_objective = neb(Energy(f, tf.float64), a, b, pivots=4, steps=50)
    through_function = neb(Energy(f.loss_at_train, tf.float64), a, b, pivots=4, steps=50)
    np.testing.assert_allclose(through_objective.points, through_function.points)
    straight = f(np.linspace(0, 1, 50)[:, None] * (b - a) + a).numpy()
    assert through_objective.saddle_loss <= straight.max() + 1e-9


# ---- never a silent NaN
# ---------------------------------------------------------------------------


def test_a_step_into_nan_is_retried_with_shorter_steps():
    f, a, b, point, value = ends_and_saddle("mueller_brown")
    energy = Energy(nan_on_calls(f, lambda n: ((n >= 10) & (n < 14)) | (n == 30)), tf.float64)
    path = neb(energy, a, b, climb=True)  # 4 failures in a row at step ~8, one more later
    assert (
        np.isfinite(path.points).all()
        and np.isfinite(path.dense_losses).all()
        and np.isfinite(path.history).all()
    )
    assert path.saddle_loss == pytest.approx(value, rel=1e-3) and path.recoveries == 5
    walled = Energy(
        lambda t: tf.where(t[:, 0] > 0.7, tf.constant(np.nan, t.dtype), f(t)), tf.float64
    )
    # steps that overshoot into NaN
    path = neb(walled, a, b, climb=True, optimizer="sgd", lr=3e-3, max_step=0.5)
    assert (
        path.recoveries > 0
        and (path.points[:, 0] <= 0.7).all()
        and np.isfinite(path.dense_losses).all()
    )
    assert path.losses.max() == pytest.approx(value, rel=1e-3)


def test_a_band_that_cannot_leave_nan_is_an_error_naming_the_step():
    f, a, b, _, _ = ends_and_saddle("mueller_brown")
    with pytest.raises(
        NonFiniteBandError,
        match=r"neb: non-finite loss or gradient on the band at step 1[0-9], "
        "still after 8 retries",
    ):
        neb(Energy(nan_on_calls(f, lambda n: n >= 10), tf.float64), a, b, climb=True)
    with pytest.raises(NonFiniteBandError, match=r"autoneb cycle 1: non-finite .* at step \d+"):
        autoneb(Energy(nan_on_calls(f, lambda n: n >= 10), tf.float64), a, b)
    nowhere = Energy(
        lambda t: tf.where(
            tf.norm(t - a, axis=1) > 1e-6, tf.constant(np.nan, t.dtype), mueller_brown(t)
        ),
        tf.float64,
    )
    with pytest.raises(
        NonFiniteBandError, match=r"starting band has a non-finite loss at pivot\(s\) \[1, 2"
    ):
        neb(nowhere, a, b)


def test_unknown_names_and_bad_settings_are_refused_listing_what_is_valid():
    with pytest.raises(
        ConfigError, match="unknown path method 'nebb'; valid: autoneb, neb, bezier, polychain"
    ):
        path_method("nebb")
    with pytest.raises(ConfigError, match="neb.optimizer must be one of fire, sgd, got 'sgdd'"):
        neb(mueller_brown, [0, 0], [1, 1], optimizer="sgdd")
    with pytest.raises(ConfigError, match="autoneb.band must be one of string, spring"):
        AutoNEB(band="elastic")
    with pytest.raises(ConfigError, match=r"\[bezier\] has no setting 'pivots'"):
        path_method("bezier", {"pivots": 3})
    with pytest.raises(ConfigError, match="autoneb.schedule must be a list of"):
        AutoNEB(schedule=[(0.1, 0)])
