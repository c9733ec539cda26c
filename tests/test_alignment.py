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


# The CIFAR zoo's ResNets (fla.zoo.alignment): the residual stream's tied channels, option A's
# padded channels and BatchNorm's statistics


@pytest.fixture(scope="module")
def resnets():
    """ResNet-8 and ResNet-20 with random BatchNorm scales, offsets and statistics (at their
    initialisation these are ones and zeros, which no relabelling would change)."""
    from fla.zoo.models import resnet

    rng = np.random.default_rng(3)
    models = {}
    for n in (1, 3):
        model = resnet(n)
        for v in model.weights:
            if "kernel" not in v.path:
                v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
        models[6 * n + 2] = model
    return models


def planted_channels(spec, rng) -> dict:
    return {g: rng.permutation(spec.units(g)) for g in spec.groups}


def outputs(model, weights, x, training):
    saved = [v.numpy() for v in model.weights]
    for v in model.weights:
        v.assign(weights[v.path])
    try:
        return model(x, training=training).numpy()
    finally:
        for v, value in zip(model.weights, saved):
            v.assign(value)


@pytest.mark.parametrize("depth", [8, 20])
@pytest.mark.parametrize("training", [False, True])
def test_a_resnets_relabelling_leaves_its_function_unchanged(resnets, depth, training):
    from fla.zoo.alignment import apply, named, resnet_spec

    model = resnets[depth]
    spec = resnet_spec(model)
    weights = named(model, every=True)
    rng = np.random.default_rng(depth)
    moved = apply(spec, planted_channels(spec, rng), weights)
    assert all(not np.array_equal(moved[k], weights[k]) for k in spec.axes if "kernel" in k)
    x = rng.normal(size=(6, 32, 32, 3)).astype(np.float32)
    before, after = outputs(model, weights, x, training), outputs(model, moved, x, training)
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4 * np.abs(before).max())


def test_the_resnet_spec_ties_the_stream_and_frees_the_padded_channels(resnets):
    from fla.zoo.alignment import resnet_spec

    spec = resnet_spec(resnets[20])
    assert spec.groups[:2] == ("stream0", "inner_s0b0") and len(spec.groups) == 12
    assert {g: spec.units(g) for g in ("stream0", "pad1", "pad2")} == {
        "stream0": 16,
        "pad1": 16,
        "pad2": 32,
    }
    # stage 2's stream: stage 1's (itself stage 0's in the middle) between 16 padded channels a side
    owners = [g for g, _ in spec.spaces["stream2"]]
    assert owners == ["pad2"] * 16 + ["pad1"] * 8 + ["stream0"] * 16 + ["pad1"] * 8 + ["pad2"] * 16
    assert spec.axes["s1b0_conv1/kernel"] == (None, None, "stream0", "inner_s1b0")
    assert spec.axes["s2b2_bn2/moving_variance"] == ("stream2",)


def test_a_planted_relabelling_of_a_resnet20_is_found_back_exactly(resnets):
    from fla.zoo.alignment import apply, flat, named, resnet_spec, weight_matching

    model = resnets[20]
    spec = resnet_spec(model)
    a = named(model)
    b = apply(spec, planted_channels(spec, np.random.default_rng(4)), a)
    assert np.array_equal(flat(model, apply(spec, weight_matching(spec, a, b), b)), flat(model, a))


def test_resnet_weight_matching_raises_the_inner_product_it_maximises(resnets):
    from fla.paths.alignment import assign
    from fla.zoo.alignment import (
        apply,
        flat,
        is_identity,
        named,
        resnet_spec,
        similarity,
        weight_matching,
    )
    from fla.zoo.models import resnet

    model = resnets[8]
    spec = resnet_spec(model)
    a, b = named(model), named(resnet(1))  # two initialisations
    found = weight_matching(spec, a, b)
    theta_a, aligned = flat(model, a), flat(model, apply(spec, found, b))
    assert not is_identity(found)
    assert theta_a @ aligned > theta_a @ flat(model, b)
    for group in spec.groups:  # a fixed point: no one group's assignment improves it
        assert np.array_equal(
            assign(similarity(spec, found, a, b=b, group=group), False)[0], found[group]
        )
    rng = np.random.default_rng(5)
    for _ in range(10):  # no random relabelling does better
        other = flat(model, apply(spec, planted_channels(spec, rng), b))
        assert theta_a @ aligned >= theta_a @ other - 1e-6


def test_aligned_paths_are_searched_between_the_matched_endpoints():
    """alignment_rows runs each method again between a and the matched b where the matching moved
    b, and reuses the path as found where it did not."""
    from fla.core.objective import Objective
    from fla.core.problems import xor
    from fla.paths.alignment import alignment_rows
    from fla.paths.methods import path_method
    from fla.paths.record import Energy
    from fla.paths.search import search

    network = MLP(2, 2, 1, 1)
    energy = Energy(Objective(network, xor(), tf.float64), tf.float64)
    rng = np.random.default_rng(6)
    minima = rng.normal(size=(3, network.n_params))
    method = path_method("neb", {"pivots": 3, "steps": 20})
    pairs = [(0, 1), (0, 2)]
    found = {"neb": {p: search(energy, method, minima[p[0]], b=minima[p[1]]) for p in pairs}}
    shifted = minima[1] + 0.5  # the "matching": moves minimum 1, leaves minimum 2

    def match(a, b):
        return shifted if np.array_equal(b, minima[1]) else b

    rows = alignment_rows(
        energy, minima, pairs=pairs, matchings={"m_": match}, paths=found, methods=[method]
    )
    assert rows["m_relabelled"] == [True, False]
    moved_end = energy.values(shifted[None])[0]
    assert rows["m_neb_losses"][0][-1] == pytest.approx(moved_end, rel=1e-12)
    assert rows["neb_losses"][0][-1] != pytest.approx(moved_end, rel=1e-3)
    assert rows["m_neb_losses"][1] == list(found["neb"][(0, 2)].dense_losses)
    assert rows["m_line_losses"][0][-1] == pytest.approx(moved_end, rel=1e-12)
    assert rows["line_barrier"][1] == rows["m_line_barrier"][1]
