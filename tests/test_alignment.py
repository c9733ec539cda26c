"""Permutation alignment of MLPs (fla.paths.alignment): a relabelling leaves the function unchanged,
planted relabellings are found back exactly, and matching never lowers its own objective."""

import numpy as np
import pytest
import tensorflow as tf

from fla.core.networks import MLP
from fla.paths.alignment import Relabelling, activation_matching, weight_matching

SHAPES = [(3, 6, 1, 2, "elu"), (4, 5, 2, 3, "tanh"), (2, 7, 3, 1, "tanh"), (5, 4, 2, 3, "relu")]


def planted(network, rng, signs: bool) -> Relabelling:
    units = [fan_out for _, fan_out in network.layers[:-1]]
    return Relabelling(
        [rng.permutation(n) for n in units],
        [rng.choice([-1.0, 1.0], n) if signs else np.ones(n) for n in units],
    )


def logits(network, theta, x):
    return network.logits(tf.constant(np.atleast_2d(theta)), tf.constant(x)).numpy()


@pytest.mark.parametrize("shape", SHAPES)
def test_a_relabelling_leaves_the_function_unchanged(shape):
    n_in, width, depth, n_out, activation = shape
    network = MLP(n_in, width, depth, n_out, activation)
    rng = np.random.default_rng(0)
    theta = rng.normal(size=network.n_params)
    x = rng.normal(size=(20, n_in))
    moved = planted(network, rng, activation == "tanh").apply(network, theta)
    assert not np.allclose(moved, theta)
    np.testing.assert_allclose(logits(network, moved, x), logits(network, theta, x), atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_planted_relabellings_are_found_back_exactly(shape):
    n_in, width, depth, n_out, activation = shape
    network = MLP(n_in, width, depth, n_out, activation)
    rng = np.random.default_rng(1)
    a = rng.normal(size=network.n_params)
    b = planted(network, rng, activation == "tanh").apply(network, a)
    assert np.array_equal(weight_matching(network, a, b).apply(network, b), a)
    x = rng.normal(size=(50, n_in))
    assert np.array_equal(activation_matching(network, a, b, x=x).apply(network, b), a)


def test_weight_matching_raises_the_inner_product_it_maximises():
    network = MLP(4, 8, 2, 3, "elu")
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, network.n_params))
    found = weight_matching(network, a, b)
    aligned = found.apply(network, b)
    assert not found.is_identity()
    assert a @ aligned > a @ b
    for _ in range(20):  # no random relabelling does better
        assert a @ aligned >= a @ planted(network, rng, False).apply(network, b) - 1e-9
    np.testing.assert_allclose(np.linalg.norm(aligned), np.linalg.norm(b))
