"""Loss-surface slices: grid points per second, printed, for an MLP and for ResNet-20.

    python bench/bench_slice.py [--resolution 101] [--mnist-resolution 21] [--resnet-resolution 4]

MLP: a filter-normalised random plane around walk 0's end of a sampled XOR 2-3-1 run and of an
MNIST 784-10-10 run (60,000 training and 10,000 test patterns, when ../shared/data/mnist or
$FLA_DATA has them), through ``fla slice`` (one compiled call per chunk), beside the same points
evaluated one per call (the Python loop the chunks replace). ResNet-20: a model trained for one
epoch on 256 synthetic CIFAR-10 images (speed does not depend on the content), sliced on
``--examples`` training and test images a point. The first call of each program compiles; the
figures include it, as a user's run does.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from fla.cli import main as fla  # noqa: E402
from fla.slices.grid import read_slice  # noqa: E402
from fla.slices.subjects import open_source  # noqa: E402


def mlp(tmp: Path, problem: str, width: int, depth: int, resolution: int, data_dir) -> None:
    run = tmp / f"{problem}-run"
    argv = ["sample", problem, "--width", str(width), "--depth", str(depth), "--walks", "2"]
    argv += ["--steps", "20", "--granularity", "macro", "--bound", "1", "--out", str(run), "-q"]
    argv += ["--data-dir", str(data_dir)] if data_dir else []
    if fla(argv):
        print(f"{problem}: could not sample (data missing?); skipped")
        return
    out = tmp / f"{problem}-slice"
    argv = ["slice", str(run), "--out", str(out), "--resolution", str(resolution), "-q"]
    start = time.perf_counter()
    assert fla(argv + (["--data-dir", str(data_dir)] if data_dir else [])) == 0
    seconds = time.perf_counter() - start
    manifest = read_slice(out)[0]
    subject = open_source(run, data_dir)
    theta = np.zeros((1, subject.n_params), np.float32)
    subject.evaluate(theta)  # compile the one-point program
    loop = min(200, manifest["grid"]["points"])
    start = time.perf_counter()
    for _ in range(loop):
        subject.evaluate(theta)
    per_call = (time.perf_counter() - start) / loop
    print(
        f"{problem} {manifest['source']['network']} ({subject.n_params:,} parameters, "
        f"{manifest['source']['train_patterns']:,} + {manifest['source']['test_patterns']:,} "
        f"patterns): {manifest['grid']['points']:,} points, chunk {manifest['chunk']}: "
        f"{manifest['points_per_second']:,.0f} points/s in the grid "
        f"({manifest['grid']['points'] / seconds:,.0f} with start-up); one point a call: "
        f"{1 / per_call:,.0f} points/s"
    )


def resnet(tmp: Path, resolution: int, examples: int) -> None:
    from fla.zoo.cifar import write_binary
    from fla.zoo.train import Trainer

    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)  # noqa: E731
    write_binary(
        tmp / "data",
        "cifar10",
        images(256),
        y_train=rng.integers(0, 10, 256),
        x_test=images(256),
        y_test=rng.integers(0, 10, 256),
    )
    Trainer(
        "resnet20", "cifar10", 0, out=tmp / "model", data_dir=tmp / "data", epochs=1, batch_size=64
    ).run(quiet=True)
    out = tmp / "resnet-slice"
    argv = ["slice", str(tmp / "model"), "--out", str(out), "--resolution", str(resolution)]
    argv += ["--examples", str(examples), "--data-dir", str(tmp / "data"), "-q"]
    start = time.perf_counter()
    assert fla(argv) == 0
    seconds = time.perf_counter() - start
    manifest = read_slice(out)[0]
    print(
        f"resnet20 ({examples} training + {examples} test images a point): "
        f"{manifest['grid']['points']} points, chunk {manifest['chunk']}: "
        f"{manifest['points_per_second']:.2f} points/s in the grid "
        f"({manifest['grid']['points'] / seconds:.2f} with start-up)"
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--resolution", type=int, default=101)
    p.add_argument("--mnist-resolution", type=int, default=21)
    p.add_argument("--resnet-resolution", type=int, default=4)
    p.add_argument("--examples", type=int, default=128)
    p.add_argument("--skip-resnet", action="store_true")
    args = p.parse_args()
    mnist = Path(os.environ.get("FLA_DATA", ROOT.parent / "shared" / "data"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mlp(tmp, "xor", 3, 1, args.resolution, None)
        mlp(tmp, "mnist", 10, 1, args.mnist_resolution, mnist)
        if not args.skip_resnet:
            resnet(tmp, args.resnet_resolution, args.examples)


if __name__ == "__main__":
    main()
