"""The landscape measures of a run drawn as the papers draw them: each measure against width, one
line per depth, one panel per problem, granularity and range, with the bootstrap 95% intervals
of the mean over walks (the table of ``fla.metrics.tables``). Widths are categories (evenly
spaced, labelled as sampled); a panel whose measure no walk could give says why, with the count
of walks left out."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

PANEL = ["problem", "granularity", "bound"]


def measures_figure(table: pd.DataFrame, measures: list | None = None):
    """Each landscape measure against width and depth: rows measures, columns (problem, granularity,
    range) panels, x the width (categorical), one line a depth, one legend for the figure.

    Args:
        table: the metrics table (``fla.metrics.tables.write_metrics``).
        measures: the measures drawn (default all).

    Returns:
        (figure, axes).
    """
    measures = measures or sorted(table.measure.unique())
    panels = list(table[PANEL].drop_duplicates().sort_values(PANEL).itertuples(index=False))
    widths = sorted(table.width.unique())
    position = {w: i for i, w in enumerate(widths)}
    fig, axes = plt.subplots(
        len(measures),
        len(panels),
        figsize=(3.2 * len(panels), 2.4 * len(measures)),
        squeeze=False,
        constrained_layout=True,
    )
    handles = {}
    for i, measure in enumerate(measures):
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            rows = table[(table.measure == measure)]
            for key, value in zip(PANEL, panel):
                rows = rows[rows[key] == value]
            drawn = rows[rows.walks > 0]
            for depth, line in drawn.groupby("depth"):
                line = line.groupby("width")[["mean", "ci_low", "ci_high"]].mean().sort_index()
                err = [line["mean"] - line.ci_low, line.ci_high - line["mean"]]
                handles[depth] = ax.errorbar(
                    [position[w] for w in line.index],
                    line["mean"],
                    yerr=err,
                    marker="o",
                    ms=3,
                    capsize=2,
                    color=f"C{sorted(table.depth.unique()).index(depth)}",
                )
            note_left_out(ax, rows)
            if i == 0:
                ax.set_title(
                    f"{panel.problem} {panel.granularity} [-{panel.bound:g}, {panel.bound:g}]",
                    fontsize=9,
                )
            if j == 0:
                ax.set_ylabel(measure.replace("_", " "), fontsize=9)
            ax.set_xticks(range(len(widths)), [str(w) for w in widths])
            ax.set_xlim(-0.5, len(widths) - 0.5)
            if i == len(measures) - 1:
                ax.set_xlabel("width")
            ax.tick_params(labelsize=7)
    if handles:
        fig.legend(
            [handles[d] for d in sorted(handles)],
            [f"depth {d}" for d in sorted(handles)],
            loc="outside lower center",
            ncols=len(handles),
            fontsize=8,
        )
    return fig, axes


def note_left_out(ax, rows: pd.DataFrame) -> None:
    """Write in a panel how many walks it leaves out and why (all of them: the panel is empty).

    Args:
        ax: the panel.
        rows: its rows of the metrics table.
    """
    left = rows[rows.left_out > 0] if "left_out" in rows else rows.iloc[:0]
    if left.empty:
        return
    total = int(left.left_out.sum())
    reason = left.reason.iloc[0].split(": ", 1)[-1] if "reason" in left else ""
    empty = (rows.walks == 0).all()
    walks = f"{total} walk" + "s" * (total != 1)
    text = f"{'no value' if empty else walks + ' left out'}: {reason}"
    ax.text(
        0.5,
        0.5 if empty else 0.02,
        "\n".join(textwrap.wrap(text, 38)),
        transform=ax.transAxes,
        ha="center",
        va="center" if empty else "bottom",
        fontsize=6,
        color="firebrick",
    )
