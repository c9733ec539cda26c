"""The statements the README and the docs make about results, recomputed from the studies they
quote: each finding reruns its study (resumable: a finished sweep is verified, not redone) and
prints its numbers, so that every figure quoted has a command beside it.

    python runs/findings.py metrics [--out runs/metrics]    # runs/metrics.toml: 144 configurations

``metrics``: the landscape measures of XOR, iris and wine (widths h, 2h, 4h; depths 1 and 2; both
granularities; range [-1, 1]; 30 walks of 200 micro or 100 macro steps a configuration, one seed:
a reduced study, say so when quoting) with every sampler, summarised per problem.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fla(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "fla.cli", *args], check=True, cwd=ROOT)


def span(values) -> str:
    values = list(values)
    low, high = min(values), max(values)
    return f"{low:.3g}" if f"{low:.3g}" == f"{high:.3g}" else f"{low:.3g} to {high:.3g}"


def metrics(out: Path) -> None:
    import pandas as pd

    fla("sweep", "runs/metrics.toml", "--out", str(out), "--jobs", "2", "-q")
    fla("metrics", str(out), "-q")
    table = pd.read_parquet(out / "metrics.parquet")
    table = table[(table.bound == 1.0)]
    print(f"fla metrics {out}: {table.measure.nunique()} measures, {len(table)} rows")

    def of(sampler, measure, **where):
        rows = table[(table.sampler == sampler) & (table.measure == measure)]
        for key, value in where.items():
            rows = rows[rows[key] == value]
        return rows.sort_values(["width", "depth"])

    for granularity in ("micro", "macro"):
        print(f"progressive random walks, {granularity}, range [-1, 1], by width (depth 1, 2):")
        for problem in ("xor", "iris", "wine"):
            parts = []
            for measure in ("fem", "fem_max", "ic_h_max", "ic_eps_s", "ic_eps_05", "ic_m0"):
                rows = of("random", measure, problem=problem, granularity=granularity)
                parts.append(f"{measure} {span(rows['mean'])}")
            print(f"  {problem}: " + "; ".join(parts))
        for problem in ("xor", "iris", "wine"):
            rows = of("random", "m1", problem=problem, granularity=granularity)
            left = int(rows.left_out.sum())
            corr = of("random", "autocorrelation_1", problem=problem, granularity=granularity)
            print(
                f"  {problem}: M1 {span(rows['mean'])} ({left} walks left out), rho(1) "
                f"{span(corr['mean'])}"
            )
    print("Manhattan walks, micro, G_avg by width at depth 1 and 2:")
    for problem in ("xor", "iris", "wine"):
        for depth in (1, 2):
            rows = of("manhattan", "g_avg", problem=problem, granularity="micro", depth=depth)
            widths = ", ".join(f"{w}: {m:.4g}" for w, m in zip(rows.width, rows["mean"]))
            print(f"  {problem} depth {depth}: {widths}")
    print("uniform samples (200 points a set), by width:")
    for problem in ("xor", "iris", "wine"):
        parts = []
        for measure in ("fdc", "dm", "nbc_fitness_cor", "distr_skewness", "ic_h_max"):
            rows = of("uniform", measure, problem=problem, granularity="micro")
            parts.append(f"{measure} {span(rows['mean'])}")
        print(f"  {problem}: " + "; ".join(parts))
    print("progressive gradient walks, micro, share of stagnant steps by width (depth 1):")
    for problem in ("xor", "iris", "wine"):
        rows = of("gradient", "stagnation", problem=problem, granularity="micro", depth=1)
        print(
            f"  {problem}: " + ", ".join(f"{w}: {m:.0%}" for w, m in zip(rows.width, rows["mean"]))
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("finding", choices=["metrics"])
    p.add_argument("--out", type=Path, help="the study's folder (default runs/NAME)")
    args = p.parse_args()
    out = args.out or ROOT / "runs" / args.finding
    {"metrics": metrics}[args.finding](out)


if __name__ == "__main__":
    main()
