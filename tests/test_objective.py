"""Gradients, Hessians and Hessian-vector products against central finite differences (float64)."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import numpy_logits
from helpers import autodiff_hessians

from fla.core.networks import ACTIVATIONS, MLP
from fla.core.objective import Objective
from fla.core.problems import Problem, xor
from fla.core.regularisers import NO_PENALTY, Regulariser


def fd_gradient(f, theta, eps=1e-6):
    grad = np.zeros_like(theta)
    for j in range(theta.shape[1]):
        e = np.zeros_like(theta)
        e[:, j] = eps
        grad[:, j] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return grad


def objectives(multiclass_problem):
    return [
        Objective(MLP(2, 2, 1, 1), xor(), dtype=tf.float64),
        Objective(MLP(2, 3, 2, 1), xor(), dtype=tf.float64),
        Objective(MLP(5, 4, 1, 3), multiclass_problem, dtype=tf.float64),
        Objective(MLP(5, 2, 3, 3), multiclass_problem, dtype=tf.float64),
    ]


def test_loss_matches_an_independent_cross_entropy(multiclass_problem):
    f = Objective(MLP(5, 4, 2, 3), multiclass_problem, dtype=tf.float64)
    theta = np.random.default_rng(0).uniform(-1, 1, (2, f.n_params))
    for b in range(2):
        z = numpy_logits(f.network.layers, theta[b], multiclass_problem.x_train.astype(np.float64))
        logp = (
            z
            - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
            - z.max(1, keepdims=True)
        )
        expected = -logp[np.arange(len(z)), multiclass_problem.y_train].mean()
        assert f(theta)[b].numpy() == pytest.approx(expected, rel=1e-12)


def test_binary_loss_and_accuracy_by_hand():
    f = Objective(MLP(2, 2, 1, 1), xor(), dtype=tf.float64)
    theta = np.zeros((1, 9))
    theta[0, -1] = 1.0  # output bias 1: every logit is 1
    loss, accuracy = f.loss_and_accuracy_at(tf.constant(theta), f.x_train, f.y_train)
    expected = 0.5 * (np.log1p(np.exp(-1.0)) + np.log1p(np.exp(1.0)))
    assert loss.numpy()[0] == pytest.approx(expected, rel=1e-12)
    assert accuracy.numpy()[0] == 0.5


def test_gradient_matches_finite_differences(multiclass_problem):
    for f in objectives(multiclass_problem):
        theta = np.random.default_rng(f.n_params).uniform(-1, 1, (3, f.n_params))
        expected = fd_gradient(lambda t: f(t).numpy(), theta)
        np.testing.assert_allclose(f.gradient(theta).numpy(), expected, rtol=1e-6, atol=1e-8)


def test_hessian_and_hvp_match_finite_differences(multiclass_problem):
    eps = 1e-5
    for f in objectives(multiclass_problem):
        theta = np.random.default_rng(f.n_params + 1).uniform(-1, 1, (2, f.n_params))
        hess = f.hessian(theta).numpy()
        for b in range(2):
            # column j of H = (g(theta + eps e_j) - g(theta - eps e_j)) / 2 eps
            step = eps * np.eye(f.n_params)
            expected = (
                f.gradient(theta[b] + step).numpy() - f.gradient(theta[b] - step).numpy()
            ) / (2 * eps)
            np.testing.assert_allclose(hess[b], expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(hess, hess.transpose(0, 2, 1))
        v = np.random.default_rng(2).normal(size=theta.shape)
        np.testing.assert_allclose(
            f.hvp(theta, v).numpy(), np.einsum("bij,bj->bi", hess, v), rtol=1e-9, atol=1e-12
        )


@pytest.mark.slow  # 10 s a case; the squared-error and penalty Hessians keep fast autodiff checks
@pytest.mark.parametrize("activation", ["elu", "tanh"])
def test_exact_hessian_equals_differentiating_the_gradient(multiclass_problem, activation):
    """Every layer pair of the second-order backpropagation, for sigmoid and softmax losses, depths
    1-3, L2, patterns shared or one set per point, against automatic differentiation to rounding."""
    rng = np.random.default_rng(3)
    for problem, n_in, n_out in [(xor(), 2, 1), (multiclass_problem, 5, 3)]:
        for depth, l2 in [(1, 0.0), (2, 0.01), (3, 0.0)]:
            f = Objective(MLP(n_in, 3, depth, n_out, activation), problem, dtype=tf.float64, l2=l2)
            theta = tf.constant(rng.uniform(-2, 2, (4, f.n_params)))
            expected = autodiff_hessians(f, theta, f.x_train, f.y_train)
            scale = np.abs(expected).max()
            np.testing.assert_allclose(
                f.hessian_at(theta, f.x_train, f.y_train).numpy(), expected, atol=1e-13 * scale
            )
            idx = rng.integers(0, len(problem.y_train), (4, 3))  # per point patterns
            x, y = tf.gather(f.x_train, idx), tf.gather(f.y_train, idx)
            np.testing.assert_allclose(
                f.hessian_at(theta, x, y).numpy(),
                autodiff_hessians(f, theta, x, y),
                atol=1e-13 * scale,
            )


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "leaky_relu", "silu"])
def test_exact_hessians_of_the_other_activations(multiclass_problem, activation):
    """The later activations' exact Hessians against automatic differentiation in float64 (the
    piecewise-linear ones at points away from their kinks: no pre-activation within 1e-6 of 0)."""
    f = Objective(MLP(5, 3, 2, 3, activation), multiclass_problem, dtype=tf.float64, l2=0.01)
    theta = tf.constant(np.random.default_rng(7).uniform(-2, 2, (4, f.n_params)))
    expected = autodiff_hessians(f, theta, f.x_train, f.y_train)
    got = f.hessian_at(theta, f.x_train, f.y_train).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-13 * np.abs(expected).max())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_derivatives_against_finite_differences(activation):
    from fla.core.exact_hessian import activation_derivatives

    a = np.concatenate([np.linspace(-30, 30, 601), [-1e-3, 1e-3, 0.3, -0.3]])
    a = a[np.abs(a) > 1e-6]  # away from the kinks of ReLU, leaky ReLU and ELU at 0
    h = 1e-6
    value, slope, second = (t.numpy() for t in activation_derivatives(activation, tf.constant(a)))
    up, down = (activation_derivatives(activation, tf.constant(a + s)) for s in (h, -h))
    np.testing.assert_allclose(value, MLP(1, 1, 1, 1, activation).activation_fn(a).numpy())
    np.testing.assert_allclose(slope, (up[0] - down[0]).numpy() / (2 * h), atol=1e-8, rtol=1e-6)
    np.testing.assert_allclose(second, (up[1] - down[1]).numpy() / (2 * h), atol=1e-8, rtol=1e-5)


def test_loss_is_finite_far_from_the_origin():
    f = Objective(MLP(2, 20, 3, 1), xor())
    theta = np.random.default_rng(0).uniform(-10, 10, (50, f.n_params)).astype(np.float32) * 10
    assert np.isfinite(f(theta).numpy()).all()
    assert np.isfinite(f.gradient(theta).numpy()).all()


def test_wrong_theta_shape_is_refused():
    f = Objective(MLP(2, 2, 1, 1), xor())
    with pytest.raises(ValueError, match=r"theta must be \[B, 9\]"):
        f(np.zeros((3, 8)))


def problem_of(n_train, n_test, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_test, 5)).astype(np.float32)
    y = rng.integers(0, n_classes, n_train + n_test).astype(np.int32)
    kind = "binary" if n_classes == 2 else "multiclass"
    return Problem(
        "toy",
        x[:n_train],
        y[:n_train],
        x[n_train:],
        y[n_train:],
        n_inputs=5,
        n_outputs=1 if kind == "binary" else n_classes,
        kind=kind,
    )


@pytest.mark.parametrize(
    "width,depth,n_classes,penalty,n_train,loss,activation",
    [
        (4, 1, 3, None, 21, "cross_entropy", "elu"),
        (3, 3, 3, ("l2", 0.01), 21, "mse", "tanh"),
        (4, 2, 2, None, 6, "mse", "sigmoid"),
        (15, 2, 2, ("weight_elimination", 0.01), 21, "cross_entropy", "relu"),
        (30, 2, 3, None, 21, "mse", "leaky_relu"),
        (30, 1, 2, ("l2", 0.01), 6, "cross_entropy", "tanh"),
        (4, 2, 20, ("weight_elimination", 0.1), 21, "mse", "elu"),
    ],
)
def test_the_walks_values_are_the_objectives_loss_gradient_and_test_values(
    width, depth, n_classes, penalty, n_train, loss, activation
):
    """walk_values_at (walks' axis last, one GEMM for both batches, small layers elementwise with a
    hand-written gradient, wide ones as matrix products) against data_loss_and_accuracy_at and
    gradient_at (walks first, autodiff), in float64, for both losses and both penalties: the loss
    recorded is the data loss, the penalty its own value, the gradient that of their sum; the
    saturation of both layouts agrees. 21 training patterns take the loop over patterns in chunks
    of 8 and leave a remainder after it; 6 are summed without the loop. 20 classes make the output
    layer wide after a small hidden layer (the activations change form in between)."""
    problem = problem_of(n_train, 6, n_classes)
    regulariser = Regulariser(*penalty) if penalty else NO_PENALTY
    network = MLP(5, width, depth, problem.n_outputs, activation)
    f = Objective(network, problem, tf.float64, loss=loss, regulariser=regulariser)
    theta = np.random.default_rng(width).uniform(-1, 1, (6, f.n_params))
    x, y, xt, yt = problem.x_train, problem.y_train, problem.x_test, problem.y_test
    data_loss, accuracy = f.data_loss_and_accuracy_at(tf.constant(theta), x, y)
    total_loss, _, grad = f.gradient_at(tf.constant(theta), x, y)
    test_loss, test_accuracy = f.data_loss_and_accuracy_at(tf.constant(theta), xt, yt)
    first = f.walk_values_walks_first_at(tf.constant(theta), x, y, saturation=True)
    blocks = [tf.constant(theta.T[w.start : b.stop]) for w, b in f.network.slices()]
    for params in (blocks, tf.constant(theta.T)):
        got = f.walk_values_at(params, x, y, x_test=xt, y_test=yt, saturation=True)
        got_grad = got["gradient"]
        got_grad = (
            np.concatenate([g.numpy() for g in got_grad])
            if isinstance(params, list)
            else (got_grad.numpy())
        )
        np.testing.assert_allclose(got["loss"].numpy(), data_loss.numpy(), rtol=1e-12)
        penalty_value = got["penalty"].numpy() if penalty else 0.0
        assert ("penalty" in got) == bool(penalty)
        np.testing.assert_allclose(
            got["loss"].numpy() + penalty_value, total_loss.numpy(), rtol=1e-12
        )
        np.testing.assert_array_equal(got["accuracy"].numpy(), accuracy.numpy())
        np.testing.assert_allclose(got_grad.T, grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(got["test_loss"].numpy(), test_loss.numpy(), rtol=1e-12)
        np.testing.assert_array_equal(got["test_accuracy"].numpy(), test_accuracy.numpy())
        for name in ("saturation", "saturated_units", "penalty"):
            assert (name in got) == (name in first)
            if name in got:
                np.testing.assert_allclose(got[name].numpy(), first[name].numpy(), rtol=1e-12)
    alone = f.walk_values_at(blocks, x, y)
    assert set(alone) == {"loss", "accuracy", "gradient"} | ({"penalty"} if penalty else set())
    np.testing.assert_allclose(
        np.concatenate([g.numpy() for g in alone["gradient"]]).T,
        grad.numpy(),
        rtol=1e-10,
        atol=1e-14,
    )


@pytest.mark.parametrize("rows", [7850, 13, 17, 9])
def test_the_sum_of_squares_over_rows_is_each_columns_squared_norm(rows):
    from fla.walks.rule import sum_of_squares_over_rows

    g = np.random.default_rng(rows).normal(size=(rows, 5))
    np.testing.assert_allclose(
        sum_of_squares_over_rows(tf.constant(g)).numpy(), (g**2).sum(0), rtol=1e-12
    )
