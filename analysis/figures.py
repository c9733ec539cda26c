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
import seaborn as sns  # noqa: E402

from fla.core.losses import LOSS_WORDS  # noqa: E402
from fla.core.registry import REGISTRY  # noqa: E402

from .data import (  # noqa: E402
    ARCHITECTURE,
    CONFIGURATION,
    VARIANT,
    count_by,
    is_missing,
    last_steps,
    sample_rows,
    where,
)

# ELU units, the cross-entropy, no penalty (rows written before these were columns hold nulls)
DEFAULT_VARIANT = {
    "activation": "elu",
    "loss_function": "cross_entropy",
    "regulariser": "none",
    "lambda": None,
    "w0": None,
}

PALETTE = {
    "convex": "#1f77b4",
    "concave": "#ff7f0e",
    "saddle": "#2ca02c",
    "flat": "#d62728",
    "unknown": "#b0b0b0",
}
CLASS_ORDER = ["convex", "concave", "saddle", "flat", "unknown"]


def architecture(problem: str, width: int, depth: int) -> str:
    """An architecture's customary label.

    Args:
        problem: the problem.
        width: the hidden units a layer.
        depth: the hidden layers.

    Returns:
        E.g. ``2-2-1`` or ``784-10-10-10``.
    """
    spec = REGISTRY.get(problem)
    # csv:PATH tables: sizes in the run's metadata
    n_in, n_out = spec.sizes if spec else ("in", "out")
    return "-".join(str(s) for s in [n_in] + [width] * depth + [n_out])


def variant_name(variant: dict) -> str:
    """What a configuration varies besides the architecture, in a few words ('' at the defaults:
    ELU, cross-entropy, no penalty).

    Args:
        variant: its values of ``VARIANT`` (missing keys at their defaults).

    Returns:
        E.g. ``tanh, squared error, WE 0.001 (w0 1)``.
    """
    activation, loss_function, regulariser, lam, w0 = (variant.get(k) for k in VARIANT)
    parts = [] if is_missing(activation) or activation == "elu" else [activation]
    if not is_missing(loss_function) and loss_function != "cross_entropy":
        parts.append(LOSS_WORDS[loss_function])
    if regulariser == "l2":
        parts.append(f"L2 {lam:g}")
    elif regulariser == "weight_elimination":
        parts.append(f"WE {lam:g} (w0 {w0:g})")
    return ", ".join(parts)


def labelled_architectures(df) -> list:
    """Per row, its architecture and, where not the default, its variant.

    Args:
        df: rows with the configuration's columns.

    Returns:
        The labels.
    """
    out = []
    for row in df[CONFIGURATION].to_dict("records"):
        variant = variant_name(row)
        name = architecture(row["problem"], row["width"], row["depth"])
        out.append(f"{name} {variant}" if variant else name)
    return out


def variant_labels(df) -> list:
    """Per row, its variant in words, the defaults named (``ELU, cross-entropy``).

    Args:
        df: rows with the ``VARIANT`` columns.

    Returns:
        The labels.
    """
    names = [variant_name(row) for row in df[VARIANT].to_dict("records")]
    return [name or "ELU, cross-entropy" for name in names]


def panel_grid(n: int, width: float, height: float, *, sharey: bool = False):
    """A figure of n panels, at most four a row.

    Args:
        n: the panels.
        width: a panel's width in inches.
        height: its height.
        sharey: one y-axis for all.

    Returns:
        (figure, the n axes as a flat list; the rest hidden).
    """
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(width * cols, height * rows),
        squeeze=False,
        constrained_layout=True,
        sharey=sharey,
    )
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return fig, list(axes.ravel()[:n])


def loss_label(loss_function, regulariser) -> str:
    """The l-g cloud's x-axis: the data loss in use.

    Args:
        loss_function: ``cross_entropy`` or ``mse``.
        regulariser: the penalty's name.

    Returns:
        E.g. ``training loss (cross-entropy)``.
    """
    words = (
        "cross-entropy, nats"
        if is_missing(loss_function)
        else {
            "cross_entropy": "cross-entropy, nats",
            "mse": "squared error",
        }[loss_function]
    )
    penalty = "" if is_missing(regulariser) or regulariser == "none" else "; penalty apart"
    return f"training loss ({words}{penalty})"


def lg_clouds(
    dataset,
    problem: str,
    granularity: str,
    *,
    bound: float,
    color: str = "curvature",
    logx: bool | None = None,
    logy: bool = True,
    max_points: int = 20_000,
    variant: dict | None = None,
):
    """Loss (x) against gradient norm (y), one panel per architecture (of one ``variant``): widths
    across, depths down, every panel on one scale so that they compare. The loss axis is logarithmic
    when the losses drawn span more than two decades. Points whose gradient norm is exactly 0 are
    drawn at the axis floor (a triangle) and counted, never dropped; points with a curvature class
    are drawn in full, over the unmeasured ones. The x-axis names the loss in use; the gradient is
    that of the objective walked (data loss plus penalty).

    Args:
        dataset: the run's points (``analysis.data.open_run``).
        problem: the problem drawn.
        granularity: ``micro`` or ``macro``.
        bound: the initialisation range.
        color: colour points by ``curvature`` or ``test_loss``.
        logx: force a logarithmic (True) or linear (False) loss axis (None: by the span).
        logy: a logarithmic gradient-norm axis.
        max_points: points drawn a panel.
        variant: the ``VARIANT`` columns' values (default ELU, cross-entropy, no penalty).

    Returns:
        (figure, a row per panel: the points drawn, those at zero gradient, those classified, the
            median loss and gradient norm).
    """
    variant = {**DEFAULT_VARIANT, **(variant or {})}
    chosen = dict(problem=problem, granularity=granularity, bound=bound, **variant)
    archs = count_by(dataset, ARCHITECTURE, where(**chosen))
    widths, depths = sorted(archs.width.unique()), sorted(archs.depth.unique())
    columns = ["loss", "grad_norm", "curvature", "test_loss"]
    frames = {}
    for depth in depths:
        for width in widths:
            panel = where(**chosen, width=width, depth=depth)
            frames[(depth, width)] = panel_points(dataset, columns, max_points, panel=panel)
    drawn = pd.concat([f for f in frames.values() if len(f)], ignore_index=True)
    positive_loss = drawn.loss[drawn.loss > 0] if len(drawn) else drawn.loss
    if logx is None:
        logx = len(positive_loss) > 0 and positive_loss.max() > 100 * positive_loss.min()
    floor = (
        0.5 * drawn.grad_norm[drawn.grad_norm > 0].min() if (drawn.grad_norm > 0).any() else 1e-12
    )
    fig, axes = plt.subplots(
        len(depths),
        len(widths),
        figsize=(3.6 * len(widths), 3.0 * len(depths)),
        squeeze=False,
        sharex=True,
        sharey=True,
        constrained_layout=True,
    )
    rows, scatter, counts = [], None, {c: 0 for c in CLASS_ORDER}
    for i, depth in enumerate(depths):
        for j, width in enumerate(widths):
            ax, df = axes[i, j], frames[(depth, width)]
            ax.set_title(architecture(problem, width, depth), fontsize=10)
            if df.empty:
                ax.text(0.5, 0.5, "no points", transform=ax.transAxes, ha="center", fontsize=8)
                continue
            zero = df.grad_norm == 0
            y = df.grad_norm.where(~zero, floor) if logy else df.grad_norm
            x = df.loss.where(df.loss > 0, positive_loss.min() if logx else 0) if logx else df.loss
            if color == "curvature":
                classes = df.curvature.fillna("unknown")
                for name in ["unknown"] + [c for c in CLASS_ORDER if c != "unknown"]:
                    part = classes == name
                    counts[name] += int(part.sum())
                    for mask, marker in ((part & ~zero, "o"), (part & zero, "v")):
                        if mask.any():
                            ax.scatter(
                                x[mask], y[mask], s=2 if marker == "o" else 6, marker=marker,
                                alpha=0.4, color=PALETTE[name], rasterized=True,
                                zorder=1 if name == "unknown" else 2,
                            )  # fmt: skip
            else:
                scatter = ax.scatter(
                    x, y, s=2, alpha=0.5, c=df.test_loss, cmap="viridis", rasterized=True
                )
            rows.append(
                {
                    "problem": problem,
                    "width": width,
                    "depth": depth,
                    "granularity": granularity,
                    "bound": bound,
                    "points_drawn": len(df),
                    "zero_gradient": int(zero.sum()),
                    "classified": int(df.curvature.notna().sum()),
                    "loss_median": float(df.loss.median()),
                    "grad_norm_median": float(df.grad_norm.median()),
                }
            )
    for ax in axes.ravel():
        ax.set_xscale("log" if logx else "linear")
        ax.set_yscale("log" if logy else "linear")
        if logy:
            ax.axhline(floor, color="#999", lw=0.6, ls=":")
    penalised = variant["regulariser"] not in (None, "none")
    for ax in axes[-1]:
        ax.set_xlabel(loss_label(variant["loss_function"], variant["regulariser"]), fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("‖∇(L + penalty)‖₂" if penalised else "gradient norm ‖∇L‖₂", fontsize=8)
    if color == "curvature":
        handles = [
            plt.Line2D([], [], ls="", marker="o", color=PALETTE[c], label=f"{c} ({counts[c]:,})")
            for c in CLASS_ORDER
        ]
        handles.append(plt.Line2D([], [], ls="", marker="v", color="#555", label="gradient 0"))
        fig.legend(handles=handles, loc="outside right center", title="curvature (points)")
    elif scatter is not None:
        fig.colorbar(scatter, ax=axes, label="test loss")
    name = variant_name(variant)
    fig.suptitle(
        f"{problem}{', ' + name if name else ''}: l-g clouds of {granularity} walks from "
        f"[-{bound:g}, {bound:g}]^D"
    )
    return fig, pd.DataFrame(rows)


def panel_points(dataset, columns: list, max_points: int, *, panel) -> pd.DataFrame:
    """A panel's points: every point with a curvature class (up to max_points), then a uniform
    sample of the others filling the rest, so that the few measured points of a Lanczos run are all
    drawn.

    Args:
        dataset: the run's points (``analysis.data.open_run``).
        columns: the columns read.
        max_points: the most points.
        panel: the panel's filter.

    Returns:
        A DataFrame.
    """
    import pyarrow.compute as pc

    measured = sample_rows(
        dataset, columns, max_points, filter=panel & pc.field("curvature").is_valid()
    )
    room = max(0, max_points - len(measured))
    rest = (
        sample_rows(dataset, columns, room, filter=panel & pc.field("curvature").is_null())
        if room
        else None
    )
    parts = [p for p in (measured, rest) if p is not None and len(p)]
    return pd.concat(parts, ignore_index=True) if parts else measured


METHODS = {
    "exact": "exact Hessian",
    "blocks": "block-diagonal Hessian (reference code)",
    "lanczos": "Lanczos extremes",
}


RULES = {
    "curvature": "the paper's rule: any zero eigenvalue makes a point flat",
    "reduced_curvature": "reduced: the architecture's null directions set aside; saddle "
    "whenever both signs are significant",
}


def curvature_breakdown(dataset, column: str = "curvature"):
    """The share of points per curvature class, per architecture, granularity and range (Figure 1),
    among the points where curvature was measured; one row of panels per method (exact, blocks,
    Lanczos), so that runs with the exact and the block-diagonal Hessian are compared side by side.

    Args:
        dataset: the run's points (``analysis.data.open_run``).
        column: ``curvature`` (the paper's rule) or ``reduced_curvature`` (the reduced Hessian's
            class, ``fla.curvature.classes``).

    Returns:
        (figure, table of shares).

    Raises:
        ValueError: no curvature was measured (--hessian none).
    """
    keys = CONFIGURATION + ["hessian"]
    counts = count_by(dataset, keys + [column]).rename(columns={column: "curvature"})
    counts = counts[counts.hessian.notna()].copy()
    if counts.empty:
        raise ValueError("no curvature was measured in this run (--hessian none)")
    counts["curvature"] = counts.curvature.fillna("unknown")
    counts["share"] = counts["count"] / counts.groupby(keys, dropna=False)["count"].transform("sum")
    counts["architecture"] = labelled_architectures(counts)
    counts["network"] = [
        architecture(p, w, d) for p, w, d in zip(counts.problem, counts.width, counts.depth)
    ]
    counts["variant"] = variant_labels(counts)
    counts["range"] = [f"[-{b:g}, {b:g}]" for b in counts.bound]
    counts["method"] = counts.hessian.map(METHODS)
    index = ["method", "problem", "depth", "width", "architecture", "granularity", "range"]
    table = counts.pivot_table(
        index=index + ["network", "variant"],
        columns="curvature",
        values="share",
        fill_value=0.0,
    ).reset_index()
    table = table.sort_values(
        ["method", "granularity", "range", "variant", "problem", "depth", "width"],
        ignore_index=True,
    )
    panels = list(dict.fromkeys(zip(table.method, table.granularity, table.range, table.variant)))
    fig, axes = panel_grid(len(panels), 4.5, 4.0, sharey=True)
    for ax, (method, gran, rng, variant) in zip(axes, panels):
        part = table[
            (table.method == method)
            & (table.granularity == gran)
            & (table.range == rng)
            & (table.variant == variant)
        ]
        bottom = np.zeros(len(part))
        for name in CLASS_ORDER:
            if name in part:
                ax.bar(part.network, part[name], bottom=bottom, color=PALETTE[name], label=name)
                bottom += part[name].to_numpy()
        ax.set_title(f"{method}: {gran} walks, range {rng}\n{variant}", fontsize=9)
        ax.set_xlabel("architecture")
        ax.set_ylabel("share of measured points")
        ax.tick_params(axis="x", rotation=45)
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, title="curvature", loc="outside right center")
    table = table.drop(columns=["network", "variant"])
    fig.suptitle(
        f"Curvature of the points where it was measured (Hessian eigenvalue signs; {RULES[column]})"
    )
    return fig, table


def accuracy(dataset):
    """Training and test accuracy at each walk's last step, per architecture (Figure 4): the median
    over walks and its interquartile range, both within [0, 1] as accuracy is.

    Args:
        dataset: the run's points (``analysis.data.open_run``).

    Returns:
        (figure, table).
    """
    df = last_steps(dataset, CONFIGURATION + ["accuracy", "test_accuracy"])
    df = df.sort_values(["problem", "depth", "width"], kind="stable")
    df["architecture"] = labelled_architectures(df)
    df["network"] = [architecture(p, w, d) for p, w, d in zip(df.problem, df.width, df.depth)]
    df["range"] = [f"[-{b:g}, {b:g}]" for b in df.bound]
    df["panel"] = [
        f"{v}\n{g} walks, range {r}"
        for v, g, r in zip(variant_labels(df), df.granularity, df.range)
    ]
    long = df.melt(
        id_vars=["architecture", "network", "panel", "granularity", "range"],
        value_vars=["accuracy", "test_accuracy"],
        var_name="split",
        value_name="value",
    ).dropna(subset=["value"])
    long["split"] = long.split.map({"accuracy": "training", "test_accuracy": "test"})
    panels = list(dict.fromkeys(df.panel))
    grid = sns.catplot(
        data=long,
        x="network",
        y="value",
        hue="split",
        col="panel",
        col_wrap=min(4, len(panels)),
        col_order=panels,
        kind="bar",
        estimator="median",
        errorbar=("pi", 50),
        height=3.2,
        aspect=1.4,
        sharex=False,
        order=list(dict.fromkeys(df.network)),
    )
    grid.set_titles("{col_name}", size=9)
    grid.set_axis_labels("architecture", "accuracy (median, interquartile range)")
    grid.set(ylim=(0, 1.02))
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=45, labelbottom=True)
    if grid.legend is not None:
        grid.legend.set_title("split (training or test set)")
    grid.figure.suptitle("Accuracy at each walk's last step (median over walks)", y=1.02)
    grid.tight_layout()
    stats = long.groupby(["architecture", "granularity", "range", "split"]).value
    table = pd.DataFrame(
        {
            "median": stats.median(),
            "q25": stats.quantile(0.25),
            "q75": stats.quantile(0.75),
            "walks": stats.count(),
        }
    ).reset_index()
    table["split"] = table.split.map({"training": "train", "test": "test"})
    return grid.figure, table
