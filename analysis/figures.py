"""The paper's figures from a run: l-g clouds, curvature breakdown, final accuracy.

Each function draws one matplotlib figure and returns (figure, table): the table holds the numbers
the figure shows (exact counts or the sampled points' summary), for the report's CSV files.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import seaborn as sns  # noqa: E402

from fla.core.registry import REGISTRY  # noqa: E402

from .data import ARCHITECTURE, CONFIGURATION, count_by, last_steps, sample_rows  # noqa: E402

PALETTE = {
    "convex": "#1f77b4",
    "concave": "#ff7f0e",
    "saddle": "#2ca02c",
    "flat": "#d62728",
    "unknown": "#b0b0b0",
}
CLASS_ORDER = ["convex", "concave", "saddle", "flat", "unknown"]


def architecture(problem: str, width: int, depth: int) -> str:
    spec = REGISTRY.get(problem)
    # csv:PATH tables: sizes in the run's metadata
    n_in, n_out = spec.sizes if spec else ("in", "out")
    return "-".join(str(s) for s in [n_in] + [width] * depth + [n_out])


def equals(**values):
    expr = None
    for key, value in values.items():
        term = pc.field(key) == value
        expr = term if expr is None else expr & term
    return expr


def lg_clouds(
    dataset,
    problem: str,
    granularity: str,
    bound: float,
    color: str = "curvature",
    logx: bool = False,
    logy: bool = True,
    max_points: int = 20_000,
    activation: str = "elu",
):
    """Loss (x) against gradient norm (y), one panel per architecture (of one hidden activation):
    widths across, depths down."""
    chosen = dict(problem=problem, granularity=granularity, bound=bound, activation=activation)
    archs = count_by(dataset, ARCHITECTURE, equals(**chosen))
    widths, depths = sorted(archs.width.unique()), sorted(archs.depth.unique())
    fig, axes = plt.subplots(
        len(depths),
        len(widths),
        figsize=(3.6 * len(widths), 3.0 * len(depths)),
        squeeze=False,
        sharex=False,
        sharey=False,
        constrained_layout=True,
    )
    rows, scatter = [], None
    for i, depth in enumerate(depths):
        for j, width in enumerate(widths):
            ax = axes[i, j]
            where = equals(**chosen, width=width, depth=depth)
            df = sample_rows(
                dataset, ["loss", "grad_norm", "curvature", "test_loss"], max_points, where
            )
            suffix = "" if activation == "elu" else f" {activation}"
            ax.set_title(architecture(problem, width, depth) + suffix, fontsize=10)
            if df.empty:
                ax.set_axis_off()
                continue
            if logy:
                df = df[df.grad_norm > 0]
            if color == "curvature":
                classes = df.curvature.fillna("unknown")
                for name in CLASS_ORDER:
                    part = df[classes == name]
                    if len(part):
                        ax.scatter(
                            part.loss,
                            part.grad_norm,
                            s=2,
                            alpha=0.4,
                            color=PALETTE[name],
                            label=name,
                            rasterized=True,
                        )
            else:
                scatter = ax.scatter(
                    df.loss,
                    df.grad_norm,
                    s=2,
                    alpha=0.5,
                    c=df.test_loss,
                    cmap="viridis",
                    rasterized=True,
                )
            ax.set_xscale("log" if logx else "linear")
            ax.set_yscale("log" if logy else "linear")
            ax.set_xlabel("training loss (cross-entropy, nats)")
            ax.set_ylabel("gradient norm ‖∇L‖₂")
            rows.append(
                {
                    "problem": problem,
                    "width": width,
                    "depth": depth,
                    "granularity": granularity,
                    "bound": bound,
                    "points_drawn": len(df),
                }
            )
    if color == "curvature":
        handles = [
            plt.Line2D([], [], ls="", marker="o", color=PALETTE[c], label=c) for c in CLASS_ORDER
        ]
        fig.legend(handles=handles, loc="outside right center", title="curvature")
    elif scatter is not None:
        fig.colorbar(scatter, ax=axes, label="test loss (nats)")
    fig.suptitle(
        f"{problem}: l-g clouds of {granularity} walks from [-{bound:g}, {bound:g}]^D "
        f"(widths across, depths down; up to {max_points:,} points a panel)"
    )
    return fig, pd.DataFrame(rows)


METHODS = {
    "exact": "full Hessian",
    "blocks": "block-diagonal Hessian (reference code)",
    "lanczos": "Lanczos extremes",
}


def curvature_breakdown(dataset):
    """Share of points per curvature class, per architecture, granularity and range (Figure 1),
    among the points where curvature was measured; one row of panels per method (full, blocks,
    Lanczos), so that runs with the full and the block-diagonal Hessian are compared side by
    side."""
    keys = CONFIGURATION + ["hessian"]
    counts = count_by(dataset, keys + ["curvature"])
    counts = counts[counts.hessian.notna()].copy()
    if counts.empty:
        raise ValueError("no curvature was measured in this run (--hessian none)")
    counts["curvature"] = counts.curvature.fillna("unknown")
    counts["share"] = counts["count"] / counts.groupby(keys)["count"].transform("sum")
    counts["architecture"] = [
        architecture(p, w, d) for p, w, d in zip(counts.problem, counts.width, counts.depth)
    ]
    counts["range"] = [f"[-{b:g}, {b:g}]" for b in counts.bound]
    counts["method"] = counts.hessian.map(METHODS)
    table = counts.pivot_table(
        index=["method", "problem", "depth", "width", "architecture", "granularity", "range"],
        columns="curvature",
        values="share",
        fill_value=0.0,
    ).reset_index()
    table = table.sort_values(
        ["method", "granularity", "range", "problem", "depth", "width"], ignore_index=True
    )
    methods = list(dict.fromkeys(table.method))
    columns = list(dict.fromkeys(zip(table.granularity, table.range)))
    fig, axes = plt.subplots(
        len(methods),
        len(columns),
        figsize=(4.5 * len(columns), 4 * len(methods)),
        squeeze=False,
        constrained_layout=True,
        sharey=True,
    )
    for i, method in enumerate(methods):
        for j, (gran, rng) in enumerate(columns):
            ax = axes[i, j]
            part = table[
                (table.method == method) & (table.granularity == gran) & (table.range == rng)
            ]
            bottom = np.zeros(len(part))
            for name in CLASS_ORDER:
                if name in part:
                    ax.bar(
                        part.architecture,
                        part[name],
                        bottom=bottom,
                        color=PALETTE[name],
                        label=name,
                    )
                    bottom += part[name].to_numpy()
            ax.set_title(f"{method}: {gran} walks, range {rng}", fontsize=9)
            ax.set_xlabel("architecture")
            ax.set_ylabel("share of measured points")
            ax.tick_params(axis="x", rotation=45)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.ravel():
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    axes[0, -1].legend(
        handles, labels, title="curvature", loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    fig.suptitle("Curvature of the points where it was measured (Hessian eigenvalue signs)")
    return fig, table


def accuracy(dataset):
    """Training and test accuracy at each walk's last step, per architecture (Figure 4)."""
    df = last_steps(dataset, CONFIGURATION + ["accuracy", "test_accuracy"])
    df = df.sort_values(["problem", "depth", "width"], kind="stable")
    df["architecture"] = [architecture(p, w, d) for p, w, d in zip(df.problem, df.width, df.depth)]
    df["range"] = [f"[-{b:g}, {b:g}]" for b in df.bound]
    long = df.melt(
        id_vars=["architecture", "granularity", "range"],
        value_vars=["accuracy", "test_accuracy"],
        var_name="split",
        value_name="value",
    ).dropna(subset=["value"])
    long["split"] = long.split.map({"accuracy": "train", "test_accuracy": "test"})
    grid = sns.catplot(
        data=long,
        x="architecture",
        y="value",
        hue="split",
        col="granularity",
        row="range",
        kind="bar",
        errorbar="sd",
        height=3.2,
        aspect=1.4,
        order=list(dict.fromkeys(df.architecture)),
    )
    grid.set_axis_labels("architecture", "accuracy (mean ± sd)")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=45, labelbottom=True)
    grid.figure.suptitle("Accuracy at each walk's last step (mean ± sd over walks)", y=1.02)
    grid.tight_layout()
    table = long.groupby(["architecture", "granularity", "range", "split"]).value.agg(
        ["mean", "std", "count"]
    )
    return grid.figure, table.reset_index()
