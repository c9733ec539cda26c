"""Wall time of whole studies and its scaling with --jobs, printed (never asserted).

    python bench/bench_sweep.py [--jobs 1 2] [--xor]

Runs runs/quick.toml into a fresh temporary directory per run, each paying its workers'
TensorFlow start-up as a user's sweep does, in two rounds:

- cold: each --jobs value with an empty compile cache of its own (fla.base.compile_cache), so every
  process compiles its programs: a user's first sweep;
- warm: the cold rounds' caches joined, then each --jobs value --repeat times, alternated: a user's
  later sweeps (and resumed ones), which load the compiled programs.

Speed-ups are against the first --jobs value of the same round; the warm round prints its median.
With --xor also the paper-scale runs/xor.toml (36 configurations, 10 D walks each; long), warm.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_sweep(study: str, jobs: int, cache: Path) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "fla.cli",
                "sweep",
                str(ROOT / study),
                "--out",
                tmp,
                "--jobs",
                str(jobs),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "FLA_COMPILE_CACHE": str(cache)},
        )
        if done.returncode:
            raise SystemExit(done.stderr[-2000:])
        return time.perf_counter() - t0, done.stdout.strip().splitlines()[-1]


def join_caches(caches: list[Path], into: Path) -> int:
    """Copy every cache entry of ``caches`` into ``into``; the number of entries there."""
    for cache in caches:
        for entry in cache.glob("*/*.pb"):
            target = into / entry.parent.name / entry.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():  # with its checksum, without which fla does not load it
                for name in (entry.name, entry.name + ".sha256"):
                    shutil.copyfile(entry.with_name(name), target.with_name(name))
    return len(list(into.glob("*/*.pb")))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument(
        "--repeat", type=int, default=3, help="warm runs of each --jobs value (alternated)"
    )
    p.add_argument("--xor", action="store_true", help="also time the paper-scale XOR study (long)")
    args = p.parse_args()
    print(f"{os.cpu_count()} CPU cores")
    study = "runs/quick.toml"
    with tempfile.TemporaryDirectory() as caches:
        caches = Path(caches)
        cold = {}
        for jobs in args.jobs:
            cold[jobs], summary = timed_sweep(study, jobs, caches / f"cold{jobs}")
            print(
                f"{study} --jobs {jobs}, cold cache: {cold[jobs]:7.1f} s wall "
                f"(speed-up {cold[args.jobs[0]] / cold[jobs]:.2f}x)   [{summary}]"
            )
        warm_cache = caches / "warm"
        entries = join_caches([caches / f"cold{jobs}" for jobs in args.jobs], warm_cache)
        print(f"warm cache: {entries} compiled programs")
        warm = {jobs: [] for jobs in args.jobs}
        for r in range(args.repeat):
            for jobs in args.jobs:
                seconds, summary = timed_sweep(study, jobs, warm_cache)
                warm[jobs].append(seconds)
                print(
                    f"{study} --jobs {jobs}, warm cache, run {r + 1}: {seconds:7.1f} s wall "
                    f"(speed-up {warm[args.jobs[0]][r] / seconds:.2f}x)   [{summary}]"
                )
        base = warm[args.jobs[0]]
        for jobs in args.jobs[1:]:
            ratios = [b / s for b, s in zip(base, warm[jobs])]
            print(
                f"--jobs {jobs} against --jobs {args.jobs[0]}, warm: median speed-up "
                f"{statistics.median(ratios):.2f}x of {', '.join(f'{x:.2f}' for x in ratios)}; "
                f"median walls "
                f"{statistics.median(base):.1f} and {statistics.median(warm[jobs]):.1f} s"
            )
        if args.xor:
            jobs = max(args.jobs)
            seconds, summary = timed_sweep("runs/xor.toml", jobs, warm_cache)
            print(f"runs/xor.toml --jobs {jobs}, warm cache: {seconds:7.1f} s wall   [{summary}]")


if __name__ == "__main__":
    main()
