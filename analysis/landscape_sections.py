"""Report sections of ``fla landscape`` runs: the study's counts, and per (N_h, lambda) the
disconnectivity graph coloured by AUC and by connected hidden units, and the global minimum's
decision map (Mehta, Zhao, Bernal and Wales 2018, Figs. 2-6)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fla.landscapes.tables import read_landscape

LEVELS = 20  # regular thresholds of the disconnectivity graphs


def landscape_sections(run_dir: Path, folders: list, png) -> list:
    from fla.landscapes.model import mehta_network

    from .connections import decision_map, disconnectivity_graph

    sections, rows = [], []
    for folder in folders:
        meta, minima, ts = read_landscape(folder)
        h, l2 = meta["settings"]["hidden"], meta["settings"]["l2"]
        rows.append(
            {
                "hidden": h,
                "l2": l2,
                "minima": len(minima),
                "transition_states": len(ts),
                "ratio": len(ts) / len(minima) if len(minima) else None,
                "seconds": meta["seconds"],
            }
        )
        if not len(minima):
            continue
        title = f"N_h = {h}, lambda = {l2:g}"
        edges = ts[(ts.a >= 0) & (ts.b >= 0)].rename(columns={"loss": "saddle_loss"})[
            ["a", "b", "saddle_loss"]
        ]
        for color in ("auc", "connected_units"):
            fig = disconnectivity_graph(minima, edges, title, levels=LEVELS, color=color)
            sections.append(
                (f"Disconnectivity graph, {title}, coloured by {color}", png(fig), None)
            )
        best = minima.loc[minima.loss.idxmin()]
        fig = decision_map(
            mehta_network(h), best.params, f"global minimum, {title}, loss {best.loss:.4g}"
        )
        sections.append(
            (
                f"Decision map of the global minimum, {title}",
                png(fig),
                minima.drop(columns=["params", "eigenvalues"]),
            )
        )
    table = pd.DataFrame(rows).sort_values(["hidden", "l2"], ascending=[True, False])
    counts = ("Minima and transition states per (N_h, lambda)", png(counts_figure(table)), table)
    return [counts] + sections


def counts_figure(table: pd.DataFrame):
    """The numbers of minima and transition states and their ratio against N_h, one line per
    lambda (Mehta et al. 2018, Figs. 7 and 8)."""
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
