"""The landscape measures of a run drawn as the papers draw them: each measure against width, one
line per depth, one panel per problem, granularity and range, with the bootstrap 95% intervals
of the mean over walks (the table of :mod:`fla.metrics.tables`)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

PANEL = ["problem", "granularity", "bound"]


def measures_figure(table: pd.DataFrame, measures: list | None = None):
    """Rows: measures; columns: (problem, granularity, range) panels; x: width; one line a depth."""
    measures = measures or sorted(table.measure.unique())
    panels = table[PANEL].drop_duplicates().sort_values(PANEL).itertuples(index=False)
    panels = list(panels)
    fig, axes = plt.subplots(
        len(measures),
        len(panels),
        figsize=(3.2 * len(panels), 2.4 * len(measures)),
        squeeze=False,
        constrained_layout=True,
    )
    for i, measure in enumerate(measures):
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            rows = table[(table.measure == measure)]
            for key, value in zip(PANEL, panel):
                rows = rows[rows[key] == value]
            for depth, line in rows.groupby("depth"):
                line = line.groupby("width")[["mean", "ci_low", "ci_high"]].mean().sort_index()
                err = [line["mean"] - line.ci_low, line.ci_high - line["mean"]]
                ax.errorbar(
                    line.index,
                    line["mean"],
                    yerr=err,
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=f"depth {depth}",
                )
            if i == 0:
                ax.set_title(
                    f"{panel.problem} {panel.granularity} [-{panel.bound:g}, {panel.bound:g}]",
                    fontsize=9,
                )
            if j == 0:
                ax.set_ylabel(measure.replace("_", " "), fontsize=9)
            if i == len(measures) - 1:
                ax.set_xlabel("width")
            ax.tick_params(labelsize=7)
    axes[0, -1].legend(fontsize=7, loc="best")
    return fig, axes
