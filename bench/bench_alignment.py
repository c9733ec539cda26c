"""Seconds of weight matching and activation matching between two random MLPs, printed (never
asserted).

    python bench/bench_alignment.py

fla.paths.alignment on the paper's MNIST networks 784-h-...-10 (h = 10, 20, 100; one to three
hidden layers), parameters drawn from N(0, 1), activation matching on 1,000 random patterns.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from fla.core.networks import MLP
from fla.paths import alignment


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 784))
    warm = MLP(784, 10, 1, 10)  # TensorFlow started and its first program built, not timed
    alignment.activation_matching(warm, *rng.normal(size=(2, warm.n_params)), x=x)
    print("network                    D   weight matching   activation matching")
    for width in (10, 20, 100):
        for depth in (1, 2, 3):
            network = MLP(784, width, depth, 10)
            a, b = rng.normal(size=(2, network.n_params))
            start = time.perf_counter()
            alignment.weight_matching(network, a, b)
            weights = time.perf_counter() - start
            start = time.perf_counter()
            alignment.activation_matching(network, a, b, x=x)
            activations = time.perf_counter() - start
            print(
                f"{network.name:18s} {network.n_params:9,}   {weights:8.3f} s        "
                f"{activations:8.3f} s"
            )


if __name__ == "__main__":
    main()
