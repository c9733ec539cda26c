"""How accurate fla's float32 exact Hessians are at low loss, printed: the two runs of the issue
that found the cancellation (walk 0, step 19 of the first; walk 1, steps 17 and 19 of the
second), each point's stored spectrum against its float64 Hessian, and the second run's Lanczos
eig_max beside.

    python bench/bench_curvature_accuracy.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow.parquet as pq
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.registry import load_problem

FIRST = "xor --width 3 --depth 2 --granularity micro --bound 10 --walks 12 --steps 20 --seed 3"
SECOND = "xor --width 20 --depth 2 --granularity macro --bound 1 --walks 6 --steps 20 --seed 5"


def points(args: str, out: Path):
    command = [sys.executable, "-m", "fla.cli", "sample", *args.split(), "--record-params"]
    subprocess.run([*command, "--out", str(out), "-q"], check=True, capture_output=True)
    return pq.read_table(out / "points.parquet").to_pandas()


def float64_spectrum(width: int, depth: int, params) -> np.ndarray:
    f = Objective(MLP(2, width, depth, 1), load_problem("xor"), tf.float64)
    return np.linalg.eigvalsh(f.hessian(np.array(params, np.float64)[None]).numpy()[0])


def report(label: str, row, reference: np.ndarray) -> None:
    error = np.abs(np.array(row.eigenvalues) - reference).max() / np.abs(reference).max()
    print(
        f"  {label}: loss {row.loss:.3g}, eig_max {row.eig_max:.4g} "
        f"(float64 {reference.max():.4g}), largest error {error:.2e} of the largest |eigenvalue|"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"fla sample {FIRST} --hessian exact:")
        t = points(f"{FIRST} --hessian exact", tmp / "first")
        row = t[(t.walk == 0) & (t.step == 19)].iloc[0]
        report("walk 0, step 19", row, float64_spectrum(3, 2, row.params))
        print(f"fla sample {SECOND} --hessian-at all, --hessian exact and lanczos:")
        full = points(f"{SECOND} --hessian exact --hessian-at all", tmp / "full")
        lanczos = points(f"{SECOND} --hessian lanczos --hessian-at all", tmp / "lanczos")
        for step in (17, 19):
            row = full[(full.walk == 1) & (full.step == step)].iloc[0]
            report(f"walk 1, step {step}", row, float64_spectrum(20, 2, row.params))
            other = lanczos[(lanczos.walk == 1) & (lanczos.step == step)].iloc[0]
            print(f"    Lanczos eig_max {other.eig_max:.4g}")


if __name__ == "__main__":
    main()
