"""CIFAR models: training images per second and NEB pivot evaluations per second, printed.

    python bench/bench_zoo.py [--arch resnet20] [--batches 5]

Synthetic 32x32x3 images (speed does not depend on their content). Training: Keras fit steps with
the recipe's batch size (on a GPU: mixed precision and XLA, as fla train uses). NEB: loss and
gradient of B pivots (flat weight vectors) on 128 images through fla.zoo.objective, all pivots in
one call versus one pivot per call.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras
import numpy as np
import tensorflow as tf

from fla.paths.record import Energy
from fla.zoo.models import build
from fla.zoo.objective import KerasObjective
from fla.zoo.train import recipe


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--pivots", type=int, default=8)
    args = p.parse_args()
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if gpu:
        keras.mixed_precision.set_global_policy("mixed_float16")
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores, GPU: "
        f"{gpu}"
    )
    r = recipe(args.arch)
    rng = np.random.default_rng(0)
    model = build(args.arch)
    model.compile(
        keras.optimizers.SGD(0.1, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=gpu,
    )
    n = r.batch_size * args.batches
    x = rng.normal(size=(n, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, n)
    # compile
    model.fit(x[: r.batch_size], y[: r.batch_size], batch_size=r.batch_size, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=r.batch_size, epochs=1, verbose=0)
    dt = time.perf_counter() - t0
    print(
        f"{args.arch} training, batch {r.batch_size}: {n / dt:,.0f} images/s ({args.batches} "
        f"batches in {dt:.2f} s)"
    )
    keras.mixed_precision.set_global_policy("float32")
    model = build(args.arch)
    objective = KerasObjective(model, x[:128], y[:128])
    base = objective.flatten()
    pivots = base + 0.01 * rng.normal(size=(args.pivots, objective.n_params)).astype(np.float32)
    for label, chunk in (("all pivots in one call", 4096), ("one pivot per call", 1)):
        energy = Energy(objective, tf.float32, chunk=chunk)
        energy(pivots[:chunk])  # compile
        t0 = time.perf_counter()
        energy(pivots)
        dt = time.perf_counter() - t0
        print(
            f"NEB loss+gradient on 128 images, {args.pivots} pivots, {label}: "
            f"{args.pivots / dt:.2f} pivots/s"
        )


if __name__ == "__main__":
    main()
