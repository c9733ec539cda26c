"""The MNIST loader against the facts of the real files in ../shared/data/mnist (slow; skipped if
absent)."""

from pathlib import Path

import numpy as np
import pytest

from fla.core.registry import load_problem

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"no real MNIST at {REAL}"),
]


def test_real_mnist_matches_its_known_facts():
    p = load_problem("mnist", REAL)
    assert p.x_train.shape == (60000, 784) and p.x_test.shape == (10000, 784)
    assert list(p.y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(p.y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(p.y_train)) == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert p.x_train.mean() == pytest.approx(0.1307, abs=1e-4)
    assert p.x_train.std() == pytest.approx(0.3081, abs=1e-4)


def test_sampling_real_mnist_with_lanczos_at_the_last_step(tmp_path):
    import pyarrow.parquet as pq

    from fla.walks.sample import SampleConfig, sample

    sample(
        SampleConfig("mnist", width=10, depth=1, granularity="micro", bound=1.0, walks=8, steps=5),
        tmp_path / "run",
        data_dir=REAL,
        quiet=True,
    )
    df = pq.read_table(tmp_path / "run" / "points.parquet").to_pandas()
    assert len(df) == 40 and (df[df.step == 4].hessian == "lanczos").all()
    assert df.loss.between(0, 50).all() and df.test_accuracy.between(0, 1).all()


FASHION = Path("/usr/share/datasets")  # Debian's dataset-fashion-mnist installs fashion-mnist/ here


@pytest.mark.skipif(
    not (FASHION / "fashion-mnist").is_dir(), reason="apt-get install dataset-fashion-mnist"
)
def test_real_fashion_mnist_matches_its_known_facts():
    """Facts from Fashion-MNIST's README (Xiao et al. 2017): 60,000 + 10,000 images, 6,000 and 1,000
    per class; the pixel mean and standard deviation that its users normalise with, 0.2860 and
    0.3530."""
    p = load_problem("fashion_mnist", FASHION)
    assert p.x_train.shape == (60000, 784) and p.x_test.shape == (10000, 784)
    assert (
        list(np.bincount(p.y_train)) == [6000] * 10 and list(np.bincount(p.y_test)) == [1000] * 10
    )
    assert p.x_train.mean() == pytest.approx(0.2860, abs=1e-4)
    assert p.x_train.std() == pytest.approx(0.3530, abs=1e-4)
    mnist = load_problem("mnist", REAL) if REAL.is_dir() else None
    assert mnist is None or not np.array_equal(mnist.y_train[:100], p.y_train[:100])
