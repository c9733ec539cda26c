"""Batched quenches (issue 28): the compiled L-BFGS against a known minimum, its convergence mask,
rows that do not interact, stationarity checked independently; basin-hopping's seeds, restarts and
what found each minimum; and (slow) the default landscape against an exhaustive search."""

import numpy as np
import pytest
import tensorflow as tf

from fla.landscapes.basin_hopping import basin_hopping
from fla.landscapes.database import Database
from fla.landscapes.model import mehta_network, objective, padded
from fla.landscapes.quench import Quencher


class Rosenbrock:
    """f = sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 in two dimensions: one minimum, (1, 1)."""

    dtype = tf.float64
    x_train = y_train = None

    def gradient_at(self, x, _x, _y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2, 1)
        return loss, None, tape.gradient(loss, x)


def test_quenches_reach_the_rosenbrock_minimum_from_everywhere():
    q = Quencher(Rosenbrock(), batch=32)
    starts = np.random.default_rng(0).uniform(-2, 2, (32, 2))
    x, loss, grad, iters = q(starts, 1e-9)
    assert (grad <= 1e-9).all() and (iters > 10).all()
    np.testing.assert_allclose(x, 1.0, atol=1e-8)
    assert q.quenches == 32 and q.evaluations >= iters.sum()


def test_a_converged_row_is_frozen_and_rows_do_not_interact():
    q = Quencher(Rosenbrock(), batch=4)
    rng = np.random.default_rng(1)
    starts = np.concatenate([[[1.0, 1.0]], rng.uniform(-2, 2, (3, 2))])
    x, _, _, iters = q(starts, 1e-9)
    assert iters[0] == 0 and (x[0] == 1.0).all()
    other = np.concatenate([starts[:2], rng.uniform(-2, 2, (2, 2))])
    y = q(other, 1e-9)[0]
    np.testing.assert_array_equal(x[:2], y[:2])  # bit for bit, whatever the other rows do
    x5 = q(np.concatenate([starts, starts[:1]]), 1e-9)[0]  # two calls of 4 rows, one padded
    np.testing.assert_array_equal(x5[:4], x)


def test_quenched_networks_are_stationary_by_an_independent_gradient():
    f = objective(3, 1e-2)
    starts = np.random.default_rng(2).uniform(-1, 1, (16, f.n_params))
    x, loss, grad, _ = Quencher(f, batch=16)(starts, 1e-7)
    assert (grad <= 1e-7).all()
    np.testing.assert_allclose(np.linalg.norm(f.gradient(x).numpy(), axis=1), grad, atol=1e-12)
    assert (loss <= f(starts).numpy()).all()


@pytest.mark.slow  # 4-8 s; its fast neighbours cover the same code
def test_padded_minima_are_stationary_points_of_the_larger_network():
    f2, f3 = objective(2, 1e-2), objective(3, 1e-2)
    x = Quencher(f2, batch=8)(np.random.default_rng(3).uniform(-1, 1, (8, f2.n_params)), 1e-9)[0]
    np.testing.assert_allclose(f3(padded(x, 3)).numpy(), f2(x).numpy(), rtol=1e-12)
    assert (np.linalg.norm(f3.gradient(padded(x, 3)).numpy(), axis=1) <= 1e-8).all()


def test_basin_hopping_seeds_restarts_and_names_what_found_each_minimum():
    f = objective(2, 1e-3)
    db = Database(mehta_network(2), gtol=1e-7)
    seeds = np.zeros((1, f.n_params))  # the all-zero network: a minimum at this lambda
    stats = basin_hopping(
        db,
        f,
        8,
        steps=12,
        step=1.0,
        temperature=0.1,
        rng=np.random.default_rng(0),
        seeds=seeds,
        patience=2,
    )
    found_by = {m["found_by"] for m in db.minima}
    assert stats["restarts"] > 0 and found_by <= {"seed", "start", "hop", "restart"}
    zero = [m for m in db.minima if np.abs(m["params"]).max() < 1e-6]
    assert len(zero) == 1 and zero[0]["found_by"] == "seed"
    assert stats["quenches"] == 8 * 13


@pytest.mark.slow
@pytest.mark.parametrize("l2", [1e-2, 1e-3])
def test_the_default_landscape_holds_every_minimum_an_exhaustive_search_finds(tmp_path, l2):
    """Exhaustive: 3 x 4,096 independent quenches from uniform starts in [-r, r]^D, r = 1, 3, 10,
    merged up to the symmetries, per N_h = 1..6; every minimum must be in the default study's
    database."""
    import pyarrow.parquet as pq

    from fla.cli import main
    from fla.landscapes.basin_hopping import quench, store_minima

    study = tmp_path / "study.toml"
    study.write_text(f"hidden = [1, 2, 3, 4, 5, 6]\nl2 = [{l2!r}]\n")
    assert main(["landscape", str(study), "--out", str(tmp_path / "out"), "-q"]) == 0
    missing = {}
    for hidden in range(1, 7):
        f = objective(hidden, l2)
        exhaustive = Database(mehta_network(hidden), gtol=1e-7)
        rng = np.random.default_rng(1000 + hidden)
        for r in (1.0, 3.0, 10.0):
            for _ in range(8):
                x, e, g = quench(f, rng.uniform(-r, r, (512, f.n_params)), 1e-7)
                store_minima(
                    exhaustive, f, x, losses=e, grads=g, gtol=1e-7, how=f"exhaustive {r:g}"
                )
        table = pq.read_table(tmp_path / "out" / f"h{hidden}_l{l2!r}" / "minima.parquet")
        ours = Database(mehta_network(hidden), gtol=1e-7)
        for row in table.to_pylist():
            ours.minima.append(
                {k: np.array(row[k]) if k in ("params", "eigenvalues") else row[k] for k in row}
            )
        lost = [
            m["loss"]
            for m in exhaustive.minima
            if ours.find(m["loss"], m["params"], m["eigenvalues"]) < 0
        ]
        if lost:
            missing[hidden] = lost
        assert len(exhaustive.minima) >= 2
    assert not missing, f"minima the default study missed, by N_h: {missing}"


@pytest.mark.slow
def test_the_two_unit_minimum_padded_to_n_h_units_is_a_saddle_of_index_n_h_minus_2():
    """Mehta et al.'s claim, as the README states fla finds it: at lambda = 1e-2 the 2-2-2
    network's best two-unit minimum, padded with zero units, is stationary in the 2-N_h-2 network
    with N_h - 2 negative Hessian eigenvalues."""
    from fla.curvature.classes import hessian_index
    from fla.landscapes.model import connected_units

    f = objective(2, 1e-2)
    x, loss, grad, _ = Quencher(f, batch=32)(
        np.random.default_rng(5).uniform(-1, 1, (32, f.n_params)), 1e-9
    )
    two = (connected_units(mehta_network(2), x) == 2) & (grad <= 1e-9)
    best = x[two][np.argmin(loss[two])][None]
    for hidden in (3, 4):
        best = padded(best, hidden)
        g = objective(hidden, 1e-2)
        assert np.linalg.norm(g.gradient(best).numpy()) < 1e-8
        negative, _ = hessian_index(np.linalg.eigvalsh(g.hessian(best).numpy()))
        assert negative[0] == hidden - 2
