"""Report sections of ``fla landscape`` runs: the study's counts, and per (N_h, lambda) the
disconnectivity graph coloured by AUC and by connected hidden units, and the global minimum's
decision map (Mehta, Zhao, Bernal and Wales 2018, Figs. 2-6)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fla.landscapes.tables import read_landscape

LEVELS = 20  # regular thresholds of the disconnectivity graphs


def landscape_sections(run_dir: Path, folders: list, png) -> list:
    """The landscape study's section (counts, and an index of its configurations) with one page a
    configuration (its disconnectivity graphs and the global minimum's decision map), so that the
    main page stays a page.

    Args:
        run_dir: the folder reported.
        folders: the landscape configurations' folders.
        png: figure -> embedded PNG.

    Returns:
        ``analysis.page.Section`` objects.
    """
    from fla.landscapes.model import mehta_network

    from .connections import decision_map, disconnectivity_graph
    from .page import Section

    rows, pages = [], []
    for folder in folders:
        meta, minima, ts = read_landscape(folder)
        h, l2 = meta["settings"]["hidden"], meta["settings"]["l2"]
        name = f"landscape_h{h}_l{l2:g}.html"
        rows.append(
            {
                "hidden": h,
                "l2": l2,
                "minima": len(minima),
                "transition_states": len(ts),
                "ratio": len(ts) / len(minima) if len(minima) else None,
                "seconds": meta["seconds"],
                "details": "graphs and minima" if len(minima) else None,
                "_href_details": name if len(minima) else None,
            }
        )
        if not len(minima):
            continue
        title = f"N_h = {h}, lambda = {l2:g}"
        edges = ts[(ts.a >= 0) & (ts.b >= 0)].rename(columns={"loss": "saddle_loss"})[
            ["a", "b", "saddle_loss"]
        ]
        figures = []
        for color, words in (("auc", "AUC"), ("connected_units", "connected hidden units")):
            fig = disconnectivity_graph(minima, edges, title, levels=LEVELS, color=color)
            figures.append(
                (
                    png(fig),
                    f"Disconnectivity graph, {title}, coloured by {words}: each minimum rises from "
                    f"its loss; groups join at the lowest transition state between them, at "
                    f"{LEVELS} regular thresholds (a log axis where the minima crowd its floor).",
                )
            )
        best = minima.loc[minima.loss.idxmin()]
        fig = decision_map(
            mehta_network(h), best.params, f"global minimum, {title}, loss {best.loss:.4g}"
        )
        figures.append((png(fig), f"P(class 1) of the global minimum of {title} over the plane."))
        table = minima.drop(columns=["params", "eigenvalues"])
        pages.append(
            (
                name,
                f"fla landscape: {title}",
                [Section(title, figures=figures, tables=[(table, "Its minima.", None)])],
            )
        )
    table = pd.DataFrame(rows).sort_values(["hidden", "l2"], ascending=[True, False])
    counts = Section(
        "Landscapes: minima and transition states per (N_h, lambda)",
        text=(
            "Basin-hopping minima and the transition states found between them (Mehta, Zhao, "
            "Bernal and Wales 2018); each configuration's graphs and minima are on a page of its "
            "own, linked from the table."
        ),
        figures=[
            (
                png(counts_figure(table)),
                "Minima, transition states and their ratio against N_h, one line a lambda.",
            )
        ],
        tables=[(table, "Per configuration (details: its page).", None)],
    )
    counts.pages = pages
    return [counts]


def counts_figure(table: pd.DataFrame):
    """The numbers of minima and transition states and their ratio against N_h, one line per lambda
    (Mehta et al. 2018, Figs. 7 and 8).

    Args:
        table: counts.csv's rows.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
    columns = (("minima", "minima"), ("transition_states", "transition states"), ("ratio", None))
    colours = plt.get_cmap("viridis")
    lambdas = sorted(table.l2.unique(), reverse=True)
    for ax, (column, label) in zip(axes, columns):
        for k, l2 in enumerate(lambdas):
            rows = table[table.l2 == l2].sort_values("hidden")
            ax.plot(
                rows.hidden,
                rows[column],
                marker="o",
                color=colours(k / max(len(lambdas) - 1, 1)),
                label=f"lambda = {l2:g}",
            )
        ax.set_xlabel("N_h (hidden units)")
        ax.set_ylabel(label or "transition states / minima")
        values = table[column].dropna()
        if column != "ratio" and (values > 0).all() and values.max() > 20 * values.min():
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xticks(sorted(table.hidden.unique()))
    axes[0].legend(fontsize=8)
    return fig
