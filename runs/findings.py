"""The statements the README and the docs make about results, recomputed from the studies they
quote: each finding reruns its study (resumable: a finished sweep is verified, not redone) and
prints its numbers, so that every figure quoted has a command beside it.

    python runs/findings.py metrics [--out runs/metrics]          # runs/metrics.toml
    python runs/findings.py activations [--out runs/activations]  # runs/activations.toml
    python runs/findings.py landscape [--out runs/landscape]      # runs/landscape.toml
    python runs/findings.py sharpness [--out runs/sharpness]      # runs/sharpness.toml (MNIST)
    python runs/findings.py alignment [--out runs/alignment]      # runs/alignment.toml

``metrics``: the landscape measures of XOR, iris and wine (widths h, 2h, 4h; depths 1 and 2; both
granularities; range [-1, 1]; 30 walks of 200 micro or 100 macro steps a configuration, one seed:
a reduced study, say so when quoting) with every sampler, summarised per problem.
``activations``: every activation and both losses on XOR and iris, each walk's last point.
``landscape``: Mehta et al.'s grid (N_h 1..6, lambda 1e-1..1e-6): the counts and the claims the
docs compare with the paper's.
``sharpness``: MNIST walk ends (widths 10, 20, 100; depths 1 and 2; micro walks from [-1, 1]) and
their sharpness measures (``fla sharpness``): is the steep-gradient cluster sharper, and does it
generalise worse? Needs the MNIST files (``FLA_DATA``, default ../shared/data).
``alignment``: XOR and iris walk-end minima (widths h, 2h, 10h; one hidden layer) connected by
``fla connect`` (runs/alignment_connect.toml): how much of each pair's barrier weight and
activation matching remove, on the straight line and on AutoNEB's path.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_fla(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "fla.cli", *args], check=True, cwd=ROOT)


def span(values) -> str:
    values = list(values)
    low, high = min(values), max(values)
    return f"{low:.3g}" if f"{low:.3g}" == f"{high:.3g}" else f"{low:.3g} to {high:.3g}"


def metrics(out: Path) -> None:
    import pandas as pd

    run_fla("sweep", "runs/metrics.toml", "--out", str(out), "--jobs", "2", "-q")
    run_fla("metrics", str(out), "-q")
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


def activations(out: Path) -> None:
    import numpy as np
    import pandas as pd

    import fla as api

    run_fla("sweep", "runs/activations.toml", "--out", str(out), "-q")
    columns = ["problem", "width", "depth", "activation", "loss_function", "step", "loss"]
    columns += ["grad_norm", "accuracy", "test_accuracy", "eig_max", "saturation"]
    columns += ["saturated_units"]
    points = api.open(out).points(columns)
    last = points[points.step == points.step.max()]
    keys = ["problem", "width", "depth", "activation", "loss_function"]
    print(f"{out}: {last.groupby(keys).ngroups} configurations, each walk's last point")

    def summary(frame):
        return pd.Series(
            {
                "median loss": frame.loss.median(),
                "mean test accuracy": frame.test_accuracy.mean(),
                "mean accuracy": frame.accuracy.mean(),
                "median grad_norm": frame.grad_norm.median(),
                "median eig_max": frame.eig_max.median(),
            }
        )

    for problem in ("iris", "xor"):
        for loss in ("cross_entropy", "mse"):
            part = last[(last.problem == problem) & (last.loss_function == loss)]
            table = part.groupby("activation")[list(part.columns)].apply(summary)
            table = table.dropna(axis=1, how="all")  # XOR has no test split
            print(f"{problem}, {loss}, over all its architectures:")
            print(table.round(4).to_string())
    widest = last[(last.problem == "iris") & (last.width == 16) & (last.depth == 3)]
    print("iris 4-16-16-16-3 by activation and loss:")
    print(
        widest.groupby(["loss_function", "activation"])[list(widest.columns)]
        .apply(summary)
        .round(4)
        .to_string()
    )
    deep = last[(last.problem == "xor") & (last.width == 8) & (last.depth == 3)]
    print("xor 2-8-8-8-1, mean accuracy by activation and loss:")
    print(deep.groupby(["loss_function", "activation"]).accuracy.mean().round(3).to_string())
    for activation in ("tanh", "sigmoid"):
        part = deep[(deep.activation == activation) & (deep.loss_function == "cross_entropy")]
        phi = np.stack(part.saturation.to_numpy()).astype(float).mean(axis=0)
        units = np.stack(part.saturated_units.to_numpy()).astype(float).mean(axis=0)
        print(
            f"xor 2-8-8-8-1 {activation}, cross-entropy: phi by layer {phi.round(2).tolist()}, "
            f"share of units saturated on every pattern {units.round(2).tolist()}"
        )
    relu = last[last.activation == "relu"]
    dead = relu.saturated_units.map(lambda v: float(np.mean(v)))
    print(
        f"ReLU walks' ends: share of dead hidden units (mean over layers) {dead.mean():.1%} on "
        f"average, {dead.quantile(0.99):.0%} at the 99th percentile, {dead.max():.0%} at most"
    )


def landscape(out: Path) -> None:
    import pandas as pd

    run_fla("landscape", "runs/landscape.toml", "--out", str(out), "-q")
    counts = pd.read_csv(out / "counts.csv")
    print(f"{out}: {len(counts)} configurations, {counts.seconds.sum():.0f} s of computing")
    table = counts.pivot(index="hidden", columns="l2", values="minima")
    print("minima by N_h (rows) and lambda (columns):")
    print(table.to_string())
    print("transition states / minima:")
    print(counts.pivot(index="hidden", columns="l2", values="ratio").round(2).to_string())
    from fla.landscapes.tables import read_landscape

    for folder in sorted(out.glob("h*_l*")):
        meta, minima, _ = read_landscape(folder)
        best = minima.loc[minima.loss.idxmin()]
        three = minima[minima.connected_units == 3]
        if meta["settings"]["hidden"] > 3 and len(three):
            print(
                f"N_h = {meta['settings']['hidden']}, lambda = {meta['settings']['l2']:g}: "
                f"minima with exactly 3 connected units: {len(three)} (lowest loss "
                f"{three.loss.min():.6f}; global minimum {best.loss:.6f} with "
                f"{int(best.connected_units)} units)"
            )

    print("minima not joined to the global minimum by the transition states found:")
    apart = {}
    for folder in sorted(out.glob("h*_l*")):
        meta, minima, ts = read_landscape(folder)
        key = (meta["settings"]["hidden"], meta["settings"]["l2"])
        apart[key] = len(minima) - joined(minima, ts)
    frame = pd.Series(apart).unstack()
    frame.index.name, frame.columns.name = "hidden", "l2"
    print(frame.to_string())
    print("minima found by each route (start: a chain's first quench; hop; restart; seed: padded")
    print("minima of N_h - 1 and the zero network; quench: the transition-state searches' ends):")
    routes = []
    for folder in sorted(out.glob("h*_l*")):
        meta, minima, _ = read_landscape(folder)
        row = minima.found_by.value_counts().to_dict()
        row.update(hidden=meta["settings"]["hidden"], l2=meta["settings"]["l2"], all=len(minima))
        routes.append(row)
    routes = pd.DataFrame(routes).fillna(0).set_index(["hidden", "l2"]).sort_index()
    order = ["start", "hop", "restart", "seed", "quench"]
    routes = routes[[c for c in order if c in routes] + ["all"]]
    print(routes.astype(int).to_string())
    padded_saddles(out)


def joined(minima, ts) -> int:
    """How many minima the transition states join to the lowest one (its component's size)."""
    parent = {int(m): int(m) for m in minima.minimum}

    def root(i):
        while parent.setdefault(i, i) != i:
            i = parent[i]
        return i

    for a, b in zip(ts.a, ts.b):
        parent[root(int(a))] = root(int(b))
    lowest = root(int(minima.loc[minima.loss.idxmin(), "minimum"]))
    return sum(root(i) == lowest for i in parent)


def padded_saddles(out: Path) -> None:
    """Mehta et al.'s claim that the two-unit configuration is a saddle of index N_h - 2: the
    N_h = 2 database's lowest minimum with two connected units, padded with zero units, is
    stationary in the 2-N_h-2 network; its Hessian's negative eigenvalues are counted."""
    import numpy as np

    from fla.base.quiet import import_tensorflow
    from fla.curvature.classes import hessian_index
    from fla.landscapes.model import objective, padded
    from fla.landscapes.tables import read_landscape

    import_tensorflow().get_logger().setLevel("ERROR")  # one objective per network: no warnings

    print("the N_h = 2 two-unit minimum padded to N_h units: gradient norm, negative eigenvalues")
    for folder in sorted(out.glob("h2_l*")):
        meta, minima, _ = read_landscape(folder)
        l2 = meta["settings"]["l2"]
        two = minima[minima.connected_units == 2]
        if not len(two) or l2 > 1e-2:
            continue
        point = np.asarray(two.loc[two.loss.idxmin(), "params"], np.float64)[None]
        parts = []
        for hidden in range(3, 7):
            point = padded(point, hidden)
            f = objective(hidden, l2)
            grad = float(np.linalg.norm(f.gradient(point).numpy()))
            negative = int(hessian_index(np.linalg.eigvalsh(f.hessian(point).numpy()))[0][0])
            parts.append(f"N_h {hidden}: |g| {grad:.1e}, index {negative}")
        print(f"  lambda {l2:g}: " + "; ".join(parts))


def sharpness(out: Path) -> None:
    import os

    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from analysis.sharpness_sections import MEASURES, claim_table, claim_words, tau_table

    data = os.environ.get("FLA_DATA") or str(ROOT.parent / "shared" / "data")
    measured = out.with_name(out.name + "_measures")
    run_fla(
        "sweep", "runs/sharpness.toml", "--out", str(out), "--data-dir", data, "--jobs", "2", "-q"
    )
    run_fla("sharpness", str(out), "--out", str(measured), "--settings",
            "runs/sharpness_settings.toml", "--data-dir", data, "-q")  # fmt: skip
    points = pd.read_parquet(measured / "sharpness.parquet")
    archs = points.groupby(["width", "depth"]).ngroups
    patterns = int(points.patterns.max())
    print(f"{measured}: {len(points)} walk ends of {archs} architectures, {patterns:,} patterns")
    by = points.groupby(["width", "depth", "cluster"])
    table = by.agg(points=("loss_gap", "size"), grad_norm=("grad_norm", "median"),
                   train_loss=("train_loss", "mean"), loss_gap=("loss_gap", "mean"),
                   accuracy_gap=("accuracy_gap", "mean"))  # fmt: skip
    present = [m for m in MEASURES if m in points]
    table = table.join(by[present].mean())
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print("per architecture and gradient cluster (means; grad_norm the median):")
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
        claims = claim_table(points)
        print(claim_words(claims))
        print("Kendall's tau with the loss gap:")
        print(tau_table(points).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def alignment(out: Path) -> None:
    import pandas as pd

    from fla.base.errors import FlaError
    from fla.paths.outputs import verified_connection

    run_fla("sweep", "runs/alignment.toml", "--out", str(out), "--jobs", "2", "-q")
    rows = []
    for config in sorted(p for p in out.iterdir() if (p / "run.json").is_file()):
        connected = out.with_name(out.name + "_connect") / config.name
        try:
            verified_connection(connected)
        except FlaError:  # not connected yet (a folder a killed run left is refused by name)
            run_fla("connect", str(config), "--out", str(connected), "--config",
                    "runs/alignment_connect.toml", "-q")  # fmt: skip
        minima = pd.read_parquet(connected / "minima.parquet")
        pairs = pd.read_parquet(connected / "alignment.parquet")
        row = {"configuration": config.name, "D": len(minima.params.iloc[0]),
               "minima": len(minima), "pairs": len(pairs),
               "moved (weights)": int(pairs.weight_matched_relabelled.sum())}  # fmt: skip
        for key, column in (
            ("line", "line_barrier"),
            ("line (weights)", "weight_matched_line_barrier"),
            ("line (activations)", "activation_matched_line_barrier"),
            ("autoneb", "autoneb_barrier"),
            ("autoneb (weights)", "weight_matched_autoneb_barrier"),
        ):
            row[key] = pairs[column].mean()
        line = pairs.line_barrier.sum()
        row["distance"] = pairs.distance.median()
        row["distance (weights)"] = pairs.weight_matched_distance.median()
        row["line removed (weights)"] = (
            1 - pairs.weight_matched_line_barrier.sum() / line if line > 0 else float("nan")
        )
        row["pairs: line barrier > 1e-3"] = int((pairs.line_barrier > 1e-3).sum())
        row["... after weights"] = int((pairs.weight_matched_line_barrier > 1e-3).sum())
        rows.append(row)
    table = pd.DataFrame(rows).set_index("configuration")
    print("mean barriers over each configuration's connected pairs (nats; as found = units sorted")
    print("by bias), median distances between the pairs' minima, and the share of the straight")
    print("lines' summed barrier weight matching removes:")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    spawned(out)


SPAWN_AT = ("0", "5", "20", "50", "100", "150")


def spawned(out: Path) -> None:
    """Two copies of every walk spawned at each of SPAWN_AT (fla spawn): the median error and
    loss barriers between their ends, and the step from which the walks stay linearly
    connected."""
    import pandas as pd

    from fla.base.errors import FlaError
    from fla.studies.spawn import verified_spawn

    medians, stable = {}, {}
    for config in sorted(p for p in out.iterdir() if (p / "run.json").is_file()):
        spawn = out.with_name(out.name + "_spawn") / config.name
        try:
            manifest = verified_spawn(spawn)
        except FlaError:  # not spawned yet
            run_fla("spawn", str(config), "--at", *SPAWN_AT, "--out", str(spawn), "-q")
            manifest = verified_spawn(spawn)
        summary = pd.DataFrame(manifest["summary"]).set_index("at")
        medians[config.name] = summary.error_barrier_median
        medians[config.name + " (loss)"] = summary.loss_barrier_median
        stable[config.name] = manifest["stable_from"]
    print("walks spawned at step K (two copies each, fla spawn): median error barrier, and the")
    print("median loss barrier (nats), between the copies' ends, by K:")
    print(pd.DataFrame(medians).T.to_string(float_format=lambda v: f"{v:.3g}"))
    print("stable (median error barrier <= 2%) from step:", stable)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "finding", choices=["metrics", "activations", "landscape", "sharpness", "alignment"]
    )
    p.add_argument("--out", type=Path, help="the study's folder (default runs/NAME)")
    args = p.parse_args()
    out = args.out or ROOT / "runs" / args.finding
    findings = {"metrics": metrics, "activations": activations, "landscape": landscape}
    findings.update(sharpness=sharpness, alignment=alignment)
    findings[args.finding](out)


if __name__ == "__main__":
    main()
