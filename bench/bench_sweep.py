"""Wall time of whole studies and its scaling with --jobs, printed (never asserted).

    python bench/bench_sweep.py [--jobs 1 2] [--xor]

Runs runs/quick.toml into a fresh temporary directory once per --jobs value (each run pays its
workers' TensorFlow start-up and XLA compilations, as a user's sweep does); with --xor also the
paper-scale runs/xor.toml (36 configurations, 10 D walks each; long).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_sweep(study: str, jobs: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "fla.cli", "sweep", str(ROOT / study), "--out", tmp,
                               "--jobs", str(jobs)], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if done.returncode:
            raise SystemExit(done.stderr[-2000:])
        return time.perf_counter() - t0, done.stdout.strip().splitlines()[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--xor", action="store_true", help="also time the paper-scale XOR study (long)")
    args = p.parse_args()
    print(f"{os.cpu_count()} CPU cores")
    studies = ["runs/quick.toml"] + ["runs/xor.toml"] * args.xor
    for study in studies:
        base = None
        for jobs in args.jobs if study.endswith("quick.toml") else [max(args.jobs)]:
            seconds, summary = timed_sweep(study, jobs)
            base = base or seconds
            print(f"{study} --jobs {jobs}: {seconds:7.1f} s wall (speed-up {base / seconds:.2f}x)   [{summary}]")


if __name__ == "__main__":
    main()
