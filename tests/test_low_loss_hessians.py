"""Exact Hessians keep their accuracy as the loss falls (issue: float32 cancellation at minima).

At a point whose loss is small, p = sigmoid(z) or softmax(z) rounds towards 1 in float32 and the
textbook forms p (1 - p), diag(p) - p p^T and p - y cancel. Here points of every loss from 0.5 down
to 1e-12 are made on XOR, iris and MNIST inputs: a random network's own predictions become the
labels, so that scaling its output layer by c drives every margin, and the loss, down smoothly
(c is found by bisection in float64). At each point the float32 spectrum (fla's second-order
backpropagation) must agree with an independent float64 Hessian (automatic differentiation of the
gradient, or for the 1,600-parameter MNIST net fla's float64 Hessian) to 1e-4 of the largest
eigenvalue.
"""

import numpy as np
import pytest
import tensorflow as tf

from fla.core.exact_hessian import activation_derivatives
from fla.core.losses import output_derivatives
from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.problems import Problem
from fla.core.registry import load_problem
from fla.curvature.classes import eigenvalues

LOSSES = (0.5, 1e-3, 1e-6, 1e-9, 1e-12)


def relabelled(problem: Problem, network: MLP, theta: np.ndarray) -> Problem:
    """The problem's training inputs with the network's own predictions as labels. For a softmax,
    only the patterns whose margin is at least a quarter of their largest |logit| are kept: float32
    logits hold a margin only to about 6e-8 of the logits' size, so a pattern whose margin is a
    sliver of its logits carries that error into its loss whatever the Hessian's form (that is
    where float32 itself ends, not a cancellation)."""
    logits = network.logits(tf.constant(theta[None]), tf.constant(problem.x_train, tf.float64))
    z = logits.numpy()[0]
    if problem.kind == "binary":
        x, y = problem.x_train, (z[:, 0] > 0).astype(np.int32)
    else:
        top = np.sort(z, axis=1)
        keep = top[:, -1] - top[:, -2] >= 0.25 * np.abs(z).max(axis=1)
        assert keep.sum() >= 5
        x, y = problem.x_train[keep], z[keep].argmax(1).astype(np.int32)
    return Problem(
        problem.name, x, y, None, None, problem.n_inputs, problem.n_outputs, problem.kind
    )


def scaled(network: MLP, theta: np.ndarray, c: float) -> np.ndarray:
    """theta with the output layer's weights and bias multiplied by c (every margin times c)."""
    w, b = network.slices()[-1]
    out = theta.copy()
    out[w.start : b.stop] *= c
    return out


def point_at_loss(f64: Objective, network: MLP, theta: np.ndarray, target: float) -> np.ndarray:
    low, high = -8.0, 8.0  # log10 c; the loss falls as c grows (every prediction is right)
    for _ in range(200):
        mid = 0.5 * (low + high)
        loss = f64(scaled(network, theta, 10.0**mid)[None]).numpy()[0]
        low, high = (mid, high) if loss > target else (low, mid)
    return scaled(network, theta, 10.0**high)


def autodiff_hessian(f64: Objective, theta: np.ndarray) -> np.ndarray:
    x = tf.constant(theta[None])
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            loss = f64.loss_at_train(x)
        grad = inner.gradient(loss, x)
    return outer.batch_jacobian(grad, x).numpy()


CASES = [
    ("xor", 4, 1, "elu"),
    ("xor", 3, 2, "tanh"),
    ("iris", 5, 1, "elu"),
    ("iris", 4, 2, "tanh"),
]


@pytest.mark.parametrize("name, width, depth, activation", CASES)
def test_float32_spectra_agree_with_float64_from_loss_half_to_1e_12(name, width, depth, activation):
    base = load_problem(name)
    network = MLP(base.n_inputs, width, depth, base.n_outputs, activation=activation)
    theta = np.random.default_rng(1).uniform(-1, 1, network.n_params)
    problem = relabelled(base, network, theta)
    f32, f64 = Objective(network, problem), Objective(network, problem, tf.float64)
    for target in LOSSES:
        point = point_at_loss(f64, network, theta, target).astype(np.float32).astype(np.float64)
        loss = f64(point[None]).numpy()[0]
        assert target / 3 < loss < 3 * target
        reference = np.linalg.eigvalsh(autodiff_hessian(f64, point))[0]
        ours = eigenvalues(f32.hessian(point[None].astype(np.float32)).numpy())[0]
        scale = np.abs(reference).max()
        assert scale > 0 and np.isfinite(ours).all()
        assert np.abs(ours - reference).max() <= 1e-4 * scale, (target, loss)


def test_a_small_mnist_net_keeps_its_spectrum_at_low_loss(tmp_path):
    from helpers import make_mnist

    make_mnist(tmp_path / "mnist", n_train=50, n_test=10)
    base = load_problem("mnist", tmp_path)
    network = MLP(784, 2, 1, 10)
    theta = np.random.default_rng(2).uniform(-0.1, 0.1, network.n_params)
    problem = relabelled(base, network, theta)
    f32, f64 = Objective(network, problem), Objective(network, problem, tf.float64)
    for target in (1e-3, 1e-8, 1e-12):
        point = point_at_loss(f64, network, theta, target).astype(np.float32).astype(np.float64)
        reference = np.linalg.eigvalsh(f64.hessian(point[None]).numpy())[0]
        ours = eigenvalues(f32.hessian(point[None].astype(np.float32)).numpy())[0]
        scale = np.abs(reference).max()
        assert np.abs(ours - reference).max() <= 1e-4 * scale, target


def test_the_output_derivatives_do_not_cancel_at_confident_predictions():
    """At z = 30 (float32 sigmoid rounds to 1): l'' = sigmoid(z) sigmoid(-z) = e^-30, not 0; the
    softmax's true-class gradient and diagonal keep the other classes' tiny mass."""
    z = tf.constant([[[30.0]], [[-30.0]]])
    grad, curvature = output_derivatives("cross_entropy", "binary", z, y=tf.constant([[1], [0]]))
    np.testing.assert_allclose(curvature.numpy().ravel(), [np.exp(-30.0)] * 2, rtol=1e-5)
    np.testing.assert_allclose(grad.numpy().ravel(), [-np.exp(-30.0), np.exp(-30.0)], rtol=1e-5)
    z = tf.constant([[[25.0, 0.0, -5.0]]])
    grad, curvature = output_derivatives("cross_entropy", "multiclass", z, y=tf.constant([[0]]))
    p = np.exp(np.array([25.0, 0.0, -5.0]) - 25.0)
    p /= p.sum()
    others = p[1] + p[2]
    np.testing.assert_allclose(grad.numpy().ravel()[0], -others, rtol=1e-5)
    np.testing.assert_allclose(np.diag(curvature.numpy()[0, 0])[0], p[0] * others, rtol=1e-5)


def test_saturated_activations_keep_their_derivatives():
    a = tf.constant([10.0, -12.0, -1e-6])
    _, slope, second = activation_derivatives("tanh", a[:2])
    exact = 1.0 / np.cosh(np.array([10.0, -12.0])) ** 2
    np.testing.assert_allclose(slope.numpy(), exact, rtol=1e-5)
    value, _, _ = activation_derivatives("elu", a[2:])
    np.testing.assert_allclose(value.numpy(), np.expm1(-1e-6), rtol=1e-6)


# ---- Hessian-vector products and Lanczos (--hessian lanczos, and every consumer of hvp) --------

WIDE_CASES = [  # above D = 200, where --hessian auto picks Lanczos
    ("xor", 20, 2, "elu"),  # 2-20-20-1, D = 501: the paper's widest XOR networks
    ("iris", 20, 1, "elu"),  # 4-20-3, D = 163 ... and with a second layer, D = 583
    ("iris", 20, 2, "tanh"),
]


def lanczos_case(name, width, depth, activation):
    base = load_problem(name)
    network = MLP(base.n_inputs, width, depth, base.n_outputs, activation=activation)
    theta = np.random.default_rng(3).uniform(-1, 1, network.n_params)
    problem = relabelled(base, network, theta)
    return network, theta, Objective(network, problem), Objective(network, problem, tf.float64)


@pytest.mark.parametrize("name, width, depth, activation", WIDE_CASES)
def test_hessian_vector_products_agree_with_float64_from_loss_half_to_1e_12(
    name, width, depth, activation
):
    """float32 products H v (the R-operator) against the float64 exact Hessian times v, to 1e-5
    of |H v|'s size: the accuracy of the full Hessian, at every loss."""
    network, theta, f32, f64 = lanczos_case(name, width, depth, activation)
    v = np.random.default_rng(4).standard_normal((1, network.n_params))
    for target in LOSSES:
        point = point_at_loss(f64, network, theta, target).astype(np.float32).astype(np.float64)
        reference = np.einsum("bij,bj->bi", f64.hessian(point[None]).numpy(), v)
        ours = f32.hvp(point[None].astype(np.float32), v.astype(np.float32)).numpy()
        scale = np.abs(f64.hessian(point[None]).numpy()).max() * np.abs(v).max()
        assert np.abs(ours - reference).max() <= 1e-5 * network.n_params**0.5 * scale, target


@pytest.mark.parametrize("tol", [1e-3, 1e-4])
@pytest.mark.parametrize("name, width, depth, activation", WIDE_CASES[:2])
def test_lanczos_extremes_are_within_the_tolerance_from_loss_half_to_1e_12(
    name, width, depth, activation, tol
):
    """Lanczos on float32 products finds eig_min and eig_max within tol x max|eigenvalue| of the
    float64 spectrum at every loss, says it converged, and is as accurate as the float32 exact
    Hessian (both carry the float32 rounding of the point's own logits, about 1e-5 at 1e-12)."""
    from fla.curvature.lanczos import Hessian

    network, theta, f32, f64 = lanczos_case(name, width, depth, activation)
    points = np.stack([point_at_loss(f64, network, theta, t) for t in LOSSES]).astype(np.float32)
    reference = np.linalg.eigvalsh(f64.hessian(points.astype(np.float64)).numpy())
    exact32 = eigenvalues(f32.hessian(points).numpy())
    result = Hessian(f32, points, seed=0).eigenvalues(k=1, tol=tol, max_steps=network.n_params)
    scale = np.abs(reference).max(axis=1)
    assert result["converged"].all()
    for ours, ends in ((result["min"][:, 0], 0), (result["max"][:, 0], -1)):
        error = np.abs(ours - reference[:, ends])
        assert (error <= tol * scale).all(), (error / scale, tol)
        floor = np.maximum(2 * np.abs(exact32[:, ends] - reference[:, ends]), 1e-6 * scale)
        assert (error <= floor + tol / 10 * scale).all()


def test_lanczos_keeps_a_small_mnist_nets_extremes_at_low_loss(tmp_path):
    from helpers import make_mnist

    from fla.curvature.lanczos import Hessian

    make_mnist(tmp_path / "mnist", n_train=50, n_test=10)
    base = load_problem("mnist", tmp_path)
    network = MLP(784, 2, 1, 10)  # D = 1,600
    theta = np.random.default_rng(2).uniform(-0.1, 0.1, network.n_params)
    problem = relabelled(base, network, theta)
    f32, f64 = Objective(network, problem), Objective(network, problem, tf.float64)
    points = np.stack([point_at_loss(f64, network, theta, t) for t in (1e-3, 1e-8, 1e-12)])
    reference = np.linalg.eigvalsh(f64.hessian(points).numpy())
    result = Hessian(f32, points.astype(np.float32), seed=0).eigenvalues(k=1, tol=1e-3)
    scale = np.abs(reference).max(axis=1)
    assert result["converged"].all()
    assert (np.abs(result["min"][:, 0] - reference[:, 0]) <= 1e-3 * scale).all()
    assert (np.abs(result["max"][:, 0] - reference[:, -1]) <= 1e-3 * scale).all()


def test_products_that_are_not_one_symmetric_operator_give_no_converged_answer():
    """A product whose error exceeds the tolerance (here an antisymmetric part of 1e-2 of the
    spectrum's size) is caught by the Lanczos recurrence's own consistency and not reported as
    converged, though its residuals are small."""
    from fla.curvature.lanczos import Hessian

    rng = np.random.default_rng(0)
    d = 40
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    h = q @ np.diag(np.linspace(-1, 2, d)) @ q.T
    skew = rng.standard_normal((d, d))
    skew = 1e-2 * (skew - skew.T) / np.abs(skew - skew.T).max()
    for extra, expected in ((0.0, True), (skew, False)):
        op = Hessian(lambda t: tf.reduce_sum(t * 0.0, 1), np.zeros((1, d)))
        op.hvp = lambda v, m=h + extra: v @ m.T
        result = op.eigenvalues(k=1, tol=1e-3, max_steps=d)
        assert bool(result["converged"][0]) is expected
