import numpy as np
import pytest
import tensorflow as tf
from conftest import numpy_logits

from fla.core.networks import MLP


@pytest.mark.parametrize(
    "sizes, d",
    [
        ((2, 2, 1, 1), 9),  # XOR 2-2-1
        ((784, 10, 1, 10), 7960),  # MNIST 784-10-10
        ((784, 10, 2, 10), 8070),  # 784-10-10-10
        ((2, 4, 2, 1), 37),  # 2-4-4-1
        ((2, 20, 3, 1), 921),  # 2-20-20-20-1
        ((784, 100, 1, 10), 79510),  # 784-100-10
    ],
)
def test_number_of_parameters(sizes, d):
    assert MLP(*sizes).n_params == d


@pytest.mark.parametrize("bad", [(2, 0, 1, 1), (2, 2, 0, 1), (0, 2, 1, 1), (2, 2.5, 1, 1)])
def test_impossible_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        MLP(*bad)


@pytest.mark.parametrize("width, depth, n_out", [(2, 1, 1), (3, 2, 4), (5, 3, 2)])
def test_logits_follow_the_documented_layout(width, depth, n_out):
    net = MLP(4, width, depth, n_out)
    rng = np.random.default_rng(1)
    theta = rng.uniform(-2, 2, (3, net.n_params))
    x = rng.normal(size=(6, 4))
    expected = np.stack([numpy_logits(net.layers, t, x) for t in theta])
    shared = net.logits(tf.constant(theta), tf.constant(x)).numpy()
    per_walk = net.logits(
        tf.constant(theta), tf.constant(np.broadcast_to(x, (3, 6, 4)).copy())
    ).numpy()
    for got in (shared, per_walk):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
