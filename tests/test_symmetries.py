"""The exact null directions of a network (fla.core.symmetries) against hand-derived counts and
float64 Hessians, and the reduced curvature classes built on them (fla.curvature.classes)."""

import numpy as np
import pytest
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.problems import Problem, xor
from fla.core.registry import load_problem
from fla.core.symmetries import null_basis, null_directions, projector
from fla.curvature.classes import reduced_codes, reduced_extreme_codes


def toy(n_inputs=8, patterns=5, classes=3, seed=0):
    """A multiclass problem with fewer patterns than inputs: [X, 1] has nullity
    n_inputs + 1 - patterns."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(patterns, n_inputs))
    y = (np.arange(patterns) % classes).astype(np.int32)
    return Problem("toy", x, y, None, None, n_inputs, classes, "multiclass")


def kill(network, theta, layer, unit):
    """theta with hidden unit ``unit`` of ``layer`` given a bias of -50 (dead on every pattern)."""
    theta = theta.copy()
    _, b = network.slices()[layer]
    theta[..., b.start + unit] = -50.0
    return theta


def test_hand_derived_counts():
    rng = np.random.default_rng(0)
    iris = load_problem("iris")
    net = MLP(4, 5, 1, 3)  # softmax: 5 units + the bias
    counts = null_directions(net, rng.uniform(-1, 1, (2, net.n_params)), iris.x_train)
    assert list(counts["total"]) == [6, 6] and list(counts["softmax"]) == [6, 6]
    net = MLP(2, 2, 1, 1)  # a sigmoid output: none
    assert null_directions(net, rng.uniform(-1, 1, (1, 9)), xor().x_train)["total"][0] == 0
    problem = toy()
    net = MLP(8, 3, 2, 3, "relu")
    theta = kill(net, rng.uniform(0.1, 1, (1, net.n_params)), 1, 0)  # last hidden layer
    counts = null_directions(net, theta, problem.x_train)
    assert counts["dead_units"][0] == (3 + 1) + 3  # incoming with bias, outgoing
    assert counts["softmax"][0] == 2 + 1  # the alive units and the bias
    assert counts["input_span"][0] == (9 - 5) * 3  # nullity 4 for each first-layer unit
    theta = kill(net, theta, 0, 1)  # and a first-layer unit: its column is wholly dead
    counts = null_directions(net, theta, problem.x_train)
    # two dead units share one coordinate: W_2[1, 0] is the first's outgoing, the second's incoming
    assert counts["dead_units"][0] == (9 + 3) + (4 + 3) - 1
    assert counts["input_span"][0] == 4 * 2


def test_a_unit_dead_at_zero_is_dead_and_one_positive_pattern_keeps_it_alive():
    net = MLP(2, 2, 1, 1, "relu")
    theta = np.zeros((2, net.n_params))
    w, b = net.slices()[0]
    # unit 0: weights (1, 0), bias -1: XOR's x1 is 0 or 1, so a = -1 or exactly 0
    theta[:, w.start] = 1.0
    theta[:, b.start] = -1.0
    theta[1, b.start] = -1.0 + 1e-6  # one pattern gives a = 1e-6 > 0: alive
    theta[:, b.start + 1] = 1.0  # unit 1 alive
    counts = null_directions(net, theta, xor().x_train)["dead_units"]
    assert list(counts) == [3 + 1, 0]


@pytest.mark.parametrize(
    "problem, network, dead",
    [
        (load_problem("iris"), MLP(4, 5, 2, 3, "tanh"), []),
        (toy(), MLP(8, 4, 2, 3, "elu"), []),
        (toy(), MLP(8, 4, 2, 3, "relu"), [(0, 2), (1, 1)]),
        (toy(classes=2), MLP(8, 3, 1, 2, "silu"), []),
    ],
)
def test_every_null_direction_is_one_of_the_float64_hessian_and_no_other_is_counted(
    problem, network, dead
):
    """H N = 0 for the explicit basis N; at these generic points of smooth activations the float64
    spectrum has exactly as many zeros as counted (a piecewise-linear ReLU network on 5 patterns
    has further zeros of its own: the data's, not a symmetry's, and at least as many)."""
    f = Objective(network, problem, tf.float64)
    rng = np.random.default_rng(1)
    low = 0.5 if network.activation == "relu" else -1.0
    theta = rng.uniform(low, 1.0, (2, network.n_params))
    for layer, unit in dead:
        theta = kill(network, theta, layer, unit)
    counts = null_directions(network, theta, problem.x_train)["total"]
    hessians = f.hessian(theta).numpy()
    for point, h, k in zip(theta, hessians, counts):
        basis = null_basis(network, point, problem.x_train)
        assert basis.shape[1] == k
        assert np.abs(h @ basis).max() <= 1e-12 * np.abs(h).max()
        eigs = np.linalg.eigvalsh(h)
        zeros = (np.abs(eigs) <= 1e-11 * np.abs(eigs).max()).sum()
        assert zeros == k if network.activation != "relu" else zeros >= k > 0


def test_the_projector_is_the_orthogonal_projection_onto_the_complement():
    problem, net = toy(), MLP(8, 4, 2, 3, "relu")
    theta = kill(net, np.random.default_rng(2).uniform(0.1, 1, (1, net.n_params)), 1, 3)
    project = projector(net, theta, problem.x_train)
    p = project(np.eye(net.n_params))
    np.testing.assert_allclose(p, p.T, atol=1e-12)
    np.testing.assert_allclose(p @ p, p, atol=1e-12)
    basis = null_basis(net, theta[0], problem.x_train)
    np.testing.assert_allclose(p @ basis, 0.0, atol=1e-12)
    assert round(np.trace(p)) == net.n_params - basis.shape[1]


@pytest.mark.parametrize(
    "spectrum, nulls, expected",
    [
        ([-1.0, 0.0, 0.0, 2.0], 2, "saddle"),  # the paper: flat
        ([-1.0, 0.0, 2.0], 0, "saddle"),  # both signs significant: a saddle, zeros or not
        ([0.0, 1.0, 2.0], 1, "convex"),  # the only zero is the symmetry's
        ([0.0, 0.0, 1.0], 1, "flat"),  # a zero the symmetry does not explain
        ([-2.0, -1.0, 1e-9], 1, "concave"),
        ([0.0, 0.0], 2, "flat"),  # every direction a symmetry's
        ([1e-3, 1.0, 2.0], 1, None),  # the set-aside eigenvalue is not zero: not resolved
        ([1.0, 2.0, np.nan], 0, None),
    ],
)
def test_reduced_classes_of_hand_built_spectra(spectrum, nulls, expected):
    names = {0: "convex", 1: "concave", 2: "saddle", 3: "flat", -1: None}
    assert names[int(reduced_codes(np.array([spectrum]), np.array([nulls]))[0])] == expected


def test_reduced_classes_from_extremes():
    lo = np.array([-1.0, 1.0, -2.0, 0.0, -1e-9, np.nan])
    hi = np.array([2.0, 3.0, -1.0, 1.0, 1.0, 1.0])
    assert list(reduced_extreme_codes(lo, hi)) == [2, 0, 1, 3, 3, -1]


def test_lanczos_and_exact_spectra_give_the_same_classes_on_iris(tmp_path):
    """Every point of an iris run (a softmax: 5 null directions a point): the paper's class is
    flat everywhere, the reduced class says what the spectrum does, and Lanczos on the reduced
    Hessian agrees with the exact spectra on both, point for point."""
    import pandas as pd

    from fla.walks.config import SampleConfig
    from fla.walks.sample import sample

    rows = {}
    for hessian in ("exact", "lanczos"):
        config = SampleConfig(
            "iris", width=4, depth=1, granularity="micro", bound=1.0, walks=8, steps=25,
            hessian=hessian, hessian_at="all",
        )  # fmt: skip
        sample(config, tmp_path / hessian, quiet=True)
        rows[hessian] = pd.read_parquet(tmp_path / hessian / "points.parquet")
    exact, lanczos = rows["exact"], rows["lanczos"]
    assert (exact.null_directions == 5).all() and (lanczos.null_directions == 5).all()
    assert (exact.curvature == "flat").all()
    assert exact.reduced_curvature.nunique() >= 1 and "flat" not in set(exact.reduced_curvature)
    assert (exact.curvature == lanczos.curvature).all()
    assert (exact.reduced_curvature == lanczos.reduced_curvature).all()
    scale = exact.eig_max.abs()
    assert ((exact.eig_min - lanczos.eig_min).abs() <= 1e-3 * scale).all()


def test_at_a_minimum_of_a_softmax_network_the_reduced_class_is_convex_by_both_solvers():
    """A minimum of a 3-class problem that no network separates (three overlapping Gaussian
    classes, 300 patterns, a 2-1-3 ELU network, found by BFGS in float64: gradient norm 1e-10,
    weights below 2): its Hessian is positive on the complement of the 2 null directions (the
    smallest other eigenvalue 2.3e-5 of the largest), so the paper's class is flat (the symmetry's
    zeros) and the reduced one convex, from the exact spectrum and from Lanczos on the reduced
    Hessian alike; the full extremes from Lanczos are then 0 and eig_max."""
    from scipy.optimize import minimize

    from fla.walks.config import SampleConfig
    from fla.walks.measure import Patterns, curvature_columns

    rng = np.random.default_rng(5)
    y = (np.arange(300) % 3).astype(np.int32)
    x = rng.normal(size=(300, 2)) + np.array([[0, 0], [1, 0], [0, 1]])[y]
    problem = Problem("mixed", x, y, None, None, 2, 3, "multiclass")
    network = MLP(2, 1, 1, 3, "elu")
    f64 = Objective(network, problem, tf.float64)
    fun = lambda t: float(f64(t[None]).numpy()[0])
    jac = lambda t: f64.gradient(t[None]).numpy()[0]
    start = rng.uniform(-0.5, 0.5, network.n_params)
    best = minimize(fun, start, jac=jac, method="BFGS", tol=1e-14)
    assert np.linalg.norm(jac(best.x)) < 1e-6
    config = SampleConfig("iris", width=1, depth=1, granularity="micro", bound=1.0)
    f32, point = Objective(network, problem), best.x[None].astype(np.float32)
    patterns = Patterns(x.astype(np.float32), y)
    out = {}
    for kind in ("exact", "lanczos"):
        out[kind] = curvature_columns(
            kind, point, patterns, n_rows=1, rows=np.array([0]), objective=f32, config=config
        )
    for kind, columns in out.items():
        assert columns["curvature"].to_pylist() == ["flat"], kind
        assert columns["reduced_curvature"].to_pylist() == ["convex"], kind
        assert columns["null_directions"].to_pylist() == [2]
    assert out["lanczos"]["eig_min"].to_pylist() == [0.0]
    exact_max, lanczos_max = (
        out["exact"]["eig_max"][0].as_py(),
        out["lanczos"]["eig_max"][0].as_py(),
    )
    assert abs(lanczos_max - exact_max) <= 1e-3 * exact_max


def test_a_penalty_leaves_no_null_direction():
    """L2 (and weight elimination) curve every direction, the symmetries' too: none is counted."""
    from fla.core.regularisers import Regulariser
    from fla.walks.measure import Patterns, null_counts

    problem = load_problem("iris")
    network = MLP(4, 3, 1, 3)
    theta = np.random.default_rng(0).uniform(-1, 1, (2, network.n_params)).astype(np.float32)
    patterns = Patterns(problem.x_train, problem.y_train)
    plain = Objective(network, problem)
    assert list(null_counts(plain, theta, patterns)) == [4, 4]
    for kind in ("l2", "weight_elimination"):
        f = Objective(network, problem, regulariser=Regulariser(kind, 1e-3))
        assert list(null_counts(f, theta, patterns)) == [0, 0]
