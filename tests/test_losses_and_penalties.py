"""The squared error, the penalties and the saturation measure against independent computations:
numpy formulas as the papers' code writes them, automatic differentiation and finite differences
in float64."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import numpy_logits
from helpers import autodiff_hessians

from fla.core.losses import output_derivatives, per_pattern
from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.problems import xor
from fla.core.regularisers import Regulariser
from fla.core.saturation import layer_saturation


def reference_mse(z, y, kind):
    """annabosman/fla-in-tf's squared error: tf.reduce_mean(tf.square(prediction - y)) over
    patterns and outputs, prediction = sigmoid (one output) or softmax, y one-hot."""
    if kind == "binary":
        p, target = 1 / (1 + np.exp(-z)), y[:, None].astype(float)
    else:
        e = np.exp(z - z.max(1, keepdims=True))
        p, target = e / e.sum(1, keepdims=True), np.eye(z.shape[1])[y]
    return np.mean((p - target) ** 2)


@pytest.mark.parametrize("multiclass", [False, True])
def test_the_squared_error_is_the_reference_codes(multiclass, multiclass_problem):
    problem = multiclass_problem if multiclass else xor()
    network = MLP(problem.n_inputs, 4, 2, problem.n_outputs)
    f = Objective(network, problem, tf.float64, loss="mse")
    theta = np.random.default_rng(1).uniform(-2, 2, (3, f.n_params))
    got = f(theta).numpy()
    for b in range(3):
        z = numpy_logits(network.layers, theta[b], problem.x_train.astype(np.float64))
        assert got[b] == pytest.approx(reference_mse(z, problem.y_train, problem.kind), rel=1e-12)


PENALTIES = {"none": None, "l2": ("l2", 0.01), "we": ("weight_elimination", 0.05, 0.7)}
FAST = [("elu", "none"), ("tanh", "l2"), ("sigmoid", "we"), ("relu", "we")]
HESSIAN_CASES = [
    pytest.param(a, PENALTIES[p], id=f"{p}-{a}", marks=[] if (a, p) in FAST else pytest.mark.slow)
    for a in ("elu", "tanh", "sigmoid", "relu")
    for p in PENALTIES
]


@pytest.mark.parametrize("activation, penalty", HESSIAN_CASES)
def test_exact_hessians_of_the_squared_error_and_the_penalties(
    activation, penalty, multiclass_problem
):
    """Second-order backpropagation of the squared error (sigmoid and softmax outputs, depths 1 and
    2) plus each penalty against automatic differentiation in float64, to rounding."""
    rng = np.random.default_rng(5)
    regulariser = Regulariser(*penalty) if penalty else Regulariser()
    for problem, depth in [(xor(), 1), (multiclass_problem, 2)]:
        network = MLP(problem.n_inputs, 3, depth, problem.n_outputs, activation)
        for loss in ("mse", "cross_entropy"):
            f = Objective(network, problem, tf.float64, loss=loss, regulariser=regulariser)
            theta = tf.constant(rng.uniform(-2, 2, (3, f.n_params)))
            expected = autodiff_hessians(f, theta, f.x_train, f.y_train)
            got = f.hessian_at(theta, f.x_train, f.y_train).numpy()
            np.testing.assert_allclose(got, expected, atol=1e-13 * np.abs(expected).max())


@pytest.mark.parametrize("kind,classes", [("binary", 1), ("multiclass", 4)])
def test_the_output_derivatives_of_the_squared_error_against_autodiff(kind, classes):
    flat = tf.constant(np.random.default_rng(2).normal(0, 3, (10, classes)))
    y = tf.constant(np.random.default_rng(3).integers(0, max(classes, 2), (2, 5)), tf.int32)
    with tf.GradientTape() as outer:
        outer.watch(flat)
        with tf.GradientTape() as inner:
            inner.watch(flat)
            loss = tf.reduce_sum(
                per_pattern("mse", kind, tf.reshape(flat, [2, 5, classes]), labels=y)
            )
        grad = inner.gradient(loss, flat)
    expected = outer.batch_jacobian(grad, flat).numpy().reshape(2, 5, classes, classes)
    z = tf.reshape(flat, [2, 5, classes])
    g, m = output_derivatives("mse", kind, z, y=y)
    np.testing.assert_allclose(
        g.numpy(), grad.numpy().reshape(2, 5, classes), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(m.numpy(), expected, rtol=1e-10, atol=1e-15)


def test_the_squared_error_keeps_its_digits_at_confident_predictions():
    """p - y is never formed as 1 - p: at z = 40 the squared error of the right class is
    sigmoid(-40)^2 = 1.8e-35 in float32, not 0."""
    z = tf.constant([[[40.0]], [[-40.0]]])
    got = per_pattern("mse", "binary", z, labels=tf.constant([[1], [0]])).numpy()
    expected = (1 / (1 + np.exp(40.0))) ** 2
    np.testing.assert_allclose(got[:, 0], expected, rtol=1e-5)
    logits = tf.constant([[[30.0, 0.0, 0.0]]])
    got = per_pattern("mse", "multiclass", logits, labels=tf.constant([[0]])).numpy()[0, 0]
    other = np.exp(-30.0) / (1 + 2 * np.exp(-30.0))
    assert got == pytest.approx(((2 * other) ** 2 + 2 * other**2) / 3, rel=1e-5)


@pytest.mark.parametrize("kind", ["l2", "weight_elimination"])
def test_the_penalty_is_its_formula_and_the_walks_gradient_includes_it(kind):
    """lambda sum theta^2, or lambda sum u / (1 + u), u = theta^2 / w0^2, over every parameter;
    the objective's gradient is that of the data loss plus the penalty (finite differences)."""
    lam, w0 = 0.03, 0.5
    f = Objective(MLP(2, 3, 1, 1), xor(), tf.float64, regulariser=Regulariser(kind, lam, w0))
    plain = Objective(MLP(2, 3, 1, 1), xor(), tf.float64)
    theta = np.random.default_rng(4).uniform(-2, 2, (2, f.n_params))
    u = theta**2 / w0**2
    penalty = lam * ((theta**2).sum(1) if kind == "l2" else (u / (1 + u)).sum(1))
    np.testing.assert_allclose(f.penalty_at(tf.constant(theta), False).numpy(), penalty)
    np.testing.assert_allclose(f(theta).numpy(), plain(theta).numpy() + penalty, rtol=1e-12)
    eps = 1e-6
    fd = np.stack(
        [
            (f(theta + eps * e).numpy() - f(theta - eps * e).numpy()) / (2 * eps)
            for e in np.eye(f.n_params)
        ],
        1,
    )
    np.testing.assert_allclose(f.gradient(theta).numpy(), fd, rtol=1e-6, atol=1e-9)


def binned_phi(v):
    """Rakitianskaia and Engelbrecht's phi as their code bins it: 10 bins of width 0.2 over
    [-1, 1], phi = sum_b |mean of bin b| * count_b / total."""
    edges = np.arange(-1, 1, 0.2)
    index = np.clip(np.searchsorted(edges, v, side="left") - 1, 0, 9)
    return sum(abs(v[index == b].sum()) for b in range(10)) / v.size


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_phi_is_the_binned_measure_and_saturated_units_are_outer_on_every_pattern(activation):
    rng = np.random.default_rng(6)
    a = rng.normal(0, 3, (7, 5, 4))  # [patterns, units, walks]
    a[:, 0, 1] = 9.0  # unit 0 of walk 1 saturated on every pattern
    a[:, 1, 1] = np.where(np.arange(7) % 2, 9.0, 0.1)  # unit 1: saturated on some patterns only
    phi, share = (t.numpy() for t in layer_saturation(activation, tf.constant(a)))
    v = np.tanh(a) if activation == "tanh" else 2 / (1 + np.exp(-a)) - 1
    for walk in range(4):
        assert phi[walk] == pytest.approx(binned_phi(v[:, :, walk].ravel()), rel=1e-12)
        expected = np.mean([np.all(np.abs(v[:, k, walk]) >= 0.8) for k in range(5)])
        assert share[walk] == expected
    assert share[1] >= 0.2


def test_dead_relu_units_are_those_off_on_every_pattern():
    a = np.random.default_rng(8).normal(0, 1, (6, 4, 3))
    a[:, 2, 0] = -np.abs(a[:, 2, 0])  # dead in walk 0
    a[:, 3, 0] = -np.abs(a[:, 3, 0])
    a[0, 3, 0] = 0.5  # alive on one pattern
    _, share = layer_saturation("relu", tf.constant(a))
    expected = [np.mean([np.all(a[:, k, w] <= 0) for k in range(4)]) for w in range(3)]
    np.testing.assert_array_equal(share.numpy(), expected)
    assert share.numpy()[0] >= 0.25


def test_bad_regulariser_settings_are_refused():
    with pytest.raises(ValueError, match="w0 must be a finite number > 0"):
        Regulariser("weight_elimination", 0.1, 0.0)
    with pytest.raises(ValueError, match="lambda must be a finite number >= 0"):
        Regulariser("l2", -1.0)
    with pytest.raises(ValueError, match="regulariser must be one of none, l2, weight_elimination"):
        Regulariser("l1", 1.0)
    with pytest.raises(ValueError, match="loss must be one of cross_entropy, mse"):
        Objective(MLP(2, 2, 1, 1), xor(), loss="hinge")


def test_a_runs_objective_is_the_loss_and_penalty_it_walked():
    """What connect, slices and the report's quenches evaluate: the run's own loss and penalty;
    their --l2 adds Mehta et al.'s L2 term to an unregularised run and is refused beside the run's
    own penalty."""
    from fla.base.errors import ConfigError
    from fla.core.objective import run_objective

    network = MLP(2, 2, 1, 1)
    cfg = {"loss": "mse", "regulariser": "weight_elimination", "lambda_": 0.1, "w0": 2.0}
    f = run_objective(cfg, network, xor())
    assert f.loss == "mse" and f.regulariser == Regulariser("weight_elimination", 0.1, 2.0)
    with pytest.raises(ConfigError, match="walked its own weight_elimination penalty"):
        run_objective(cfg, network, xor(), l2=0.01)
    g = run_objective({"loss": "mse"}, network, xor(), l2=0.01)
    assert g.loss == "mse" and g.l2 == 0.01
    assert run_objective({}, network, xor()).key == ("cross_entropy", "none")
