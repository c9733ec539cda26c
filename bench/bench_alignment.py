"""Seconds of weight matching and activation matching between two random MLPs, and of weight
matching between two ResNets, printed (never asserted).

    python bench/bench_alignment.py

fla.paths.alignment on the paper's MNIST networks 784-h-...-10 (h = 10, 20, 100; one to three
hidden layers), parameters drawn from N(0, 1), activation matching on 1,000 random patterns;
fla.zoo.alignment on ResNet-20 and ResNet-56 (two He-normal initialisations, and one against a
planted relabelling of itself, which matching must undo exactly).
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


def resnets() -> None:
    from fla.zoo import alignment as zoo
    from fla.zoo.models import resnet, trainable_params

    rng = np.random.default_rng(1)
    print("\nnetwork       parameters   B              weight matching   B's relabelling undone")
    for n in (3, 9):
        first, second = resnet(n), resnet(n)
        spec = zoo.resnet_spec(first)
        a = zoo.named(first)
        for what, b in (
            ("another init", zoo.named(second)),
            (
                "relabelled",
                zoo.apply(spec, {g: rng.permutation(spec.units(g)) for g in spec.groups}, a),
            ),
        ):
            start = time.perf_counter()
            found = zoo.weight_matching(spec, a, b)
            seconds = time.perf_counter() - start
            back = zoo.flat(first, zoo.apply(spec, found, b))
            exact = np.array_equal(back, zoo.flat(first, a)) if what == "relabelled" else "-"
            print(
                f"{first.name:12s} {trainable_params(first):10,}   {what:12s}   {seconds:8.3f} s"
                f"        {exact}"
            )


if __name__ == "__main__":
    main()
    resnets()
