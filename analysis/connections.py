"""Figures of a connection run (fla connect): disconnectivity graph, loss along paths, spanning
tree.

The disconnectivity graph (Becker and Karplus 1997; Wales et al.) draws each minimum as a vertical
line rising from its loss; two groups join at the lowest saddle loss that connects them, i.e.
single-linkage clustering on the spanning tree's saddle losses.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from scipy.cluster.hierarchy import dendrogram  # noqa: E402


def read_connection(folder) -> dict:
    """A connection run's tables, once connect.json's checksums verify.

    Args:
        folder: the connection run.

    Returns:
        {"minima", "paths", "tree" (and "alignment" where written): DataFrame}.
    """
    from fla.paths.outputs import verified_connection

    folder = Path(folder)
    listed = verified_connection(folder)["files"]
    names = ["minima", "paths", "tree"] + (["alignment"] if "alignment.parquet" in listed else [])
    return {name: pq.read_table(folder / f"{name}.parquet").to_pandas() for name in names}


def linkage(n: int, tree: pd.DataFrame) -> np.ndarray:
    """scipy's linkage matrix from spanning-tree edges (single linkage: edges by increasing saddle).

    Args:
        n: the minima.
        tree: the tree's edges (a, b, saddle_loss).

    Returns:
        [n - 1, 4] the linkage.
    """
    cluster = list(range(n))  # union-find: the linkage id of each minimum's current cluster
    size = {i: 1 for i in range(n)}
    rows = []
    for edge in tree.sort_values("saddle_loss").itertuples():
        a, b = cluster[edge.a], cluster[edge.b]
        if a == b:
            continue
        new = n + len(rows)
        size[new] = size[a] + size[b]
        rows.append([a, b, edge.saddle_loss, size[new]])
        cluster = [new if c in (a, b) else c for c in cluster]
    return np.array(rows, float).reshape(-1, 4)


def at_thresholds(edges: pd.DataFrame, levels: np.ndarray) -> pd.DataFrame:
    """Edges with each saddle loss raised to the first regular threshold at or above it: superbasins
    are joined at the threshold where they first connect (Becker and Karplus 1997).

    Args:
        edges: the tree's edges.
        levels: the thresholds, ascending.

    Returns:
        The edges, saddle losses raised.
    """
    k = np.clip(
        np.searchsorted(levels, edges.saddle_loss.to_numpy(), side="left"), 0, len(levels) - 1
    )
    return edges.assign(saddle_loss=levels[k])


def disconnectivity_graph(
    minima: pd.DataFrame,
    tree: pd.DataFrame,
    title: str = "",
    *,
    levels: int | None = None,
    color: str | None = None,
):
    """The disconnectivity graph (Becker and Karplus 1997): each minimum a vertical line rising from
    its loss; groups join at the lowest saddle that connects them (single linkage on the saddle
    losses of ``tree``'s edges a-b).

    Args:
        minima: the minima (loss).
        tree: the tree's edges.
        title: the figure's title.
        levels: join at this many regular thresholds instead (None: at the saddles).
        color: a column of ``minima`` to colour the branches by.

    Returns:
        The figure.
    """
    n = len(minima)
    if levels and len(tree):
        low, high = float(minima.loss.min()), float(tree.saddle_loss.max())
        tree = at_thresholds(
            tree, np.linspace(low, high, levels + 1)[1:] if high > low else np.array([high])
        )
    z = linkage(n, tree)
    order = dendrogram(z, no_plot=True)["leaves"] if len(z) == n - 1 and n > 1 else list(range(n))
    x = {leaf: float(i) for i, leaf in enumerate(order)}
    level = {i: float(minima.loss.iloc[i]) for i in range(n)}
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * n + 2), 4.5), constrained_layout=True)
    values = minima[color].to_numpy(float) if color else None
    cmap, norm, discrete = plt.cm.viridis, None, False
    if color and n:
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        discrete = bool(np.all(values == np.round(values))) and high - low <= 12
        if discrete:  # counts (connected units): one colour a value, a legend, no colourbar
            levels = np.arange(low, high + 1)
            cmap = plt.get_cmap("tab10", max(len(levels), 1))
            norm = matplotlib.colors.BoundaryNorm(np.append(levels, high + 1) - 0.5, cmap.N)
        else:
            norm = (
                matplotlib.colors.Normalize(low - 0.5, high + 0.5)
                if low == high
                else matplotlib.colors.Normalize(low, high)
            )
    leaf_color = (lambda i: cmap(norm(values[i]))) if color else (lambda i: "k")
    members = {i: [i] for i in range(n)}
    for k, (a, b, height, _) in enumerate(z):
        a, b = int(a), int(b)
        for child in (a, b):
            tone = leaf_color(members[child][0]) if len(members[child]) == 1 else "k"
            ax.plot([x[child], x[child]], [level[child], height], color=tone, lw=1.2)
        ax.plot([x[a], x[b]], [height, height], color="k", lw=1.2)
        x[n + k], level[n + k], members[n + k] = (x[a] + x[b]) / 2, height, members[a] + members[b]
    top = z[-1, 2] if len(z) else minima.loss.max()
    for leaf in range(n):  # minima never joined (budget) rise to the top
        if not any(leaf in (int(r[0]), int(r[1])) for r in z):
            ax.plot([x[leaf], x[leaf]], [level[leaf], top], color=leaf_color(leaf), lw=1.2, ls=":")
    colouring = dict(c=values, cmap=cmap, norm=norm) if color else dict(color="#1f77b4")
    ax.scatter([x[i] for i in range(n)], minima.loss, zorder=3, s=18, **colouring)
    if color and discrete:
        handles = [
            plt.Line2D([], [], ls="", marker="o", color=cmap(norm(v)), label=f"{v:g}")
            for v in sorted(set(values))
        ]
        ax.legend(handles=handles, title=color.replace("_", " "), fontsize=7, loc="upper right")
    elif color:
        fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=color)
    losses = np.array(list(level.values()), float)
    if crowded(losses):  # the minima crowd the axis' floor: a log axis tells them apart
        ax.set_yscale("log")
    ax.yaxis.get_major_formatter().set_useOffset(False) if not crowded(losses) else None
    if n <= 40:
        ax.set_xticks([x[i] for i in range(n)], [str(i) for i in range(n)], fontsize=7)
    else:
        ax.set_xticks([])
    ax.set_xlabel("minimum")
    ax.set_ylabel("training loss (nats)")
    ax.set_title(f"Disconnectivity graph{': ' + title if title else ''}", fontsize=10)
    return fig


def crowded(losses: np.ndarray) -> bool:
    """Whether losses (all positive) span more than a decade with most of them in the lowest 5% of
    their range: on a linear axis they would sit on top of one another.

    Args:
        losses: the losses.

    Returns:
        True when a log axis reads better.
    """
    losses = losses[np.isfinite(losses)]
    if not len(losses) or losses.min() <= 0:
        return False
    span = losses.max() - losses.min()
    low = (losses <= losses.min() + 0.05 * span).mean()
    return losses.max() > 10 * losses.min() and low > 0.5


def decision_map(network, params: np.ndarray, title: str = "", *, grid: int = 200):
    """P(class 1) of one network over [-0.5, 1.5]^2, with the XOR patterns marked.

    Args:
        network: the 2-N_h-2 network.
        params: [D] its parameters.
        title: the figure's title.
        grid: points a side.

    Returns:
        The figure.
    """
    from fla.landscapes.model import probabilities

    axis = np.linspace(-0.5, 1.5, grid)
    xx, yy = np.meshgrid(axis, axis)
    p = probabilities(network, np.asarray(params)[None], np.column_stack([xx.ravel(), yy.ravel()]))[
        0
    ]
    fig, ax = plt.subplots(figsize=(4.6, 3.8), constrained_layout=True)
    image = ax.imshow(
        p.reshape(grid, grid),
        origin="lower",
        extent=(-0.5, 1.5, -0.5, 1.5),
        cmap="RdBu_r",
        vmin=0,
        vmax=1,
    )
    ax.scatter([0, 1], [0, 1], marker="o", color="w", edgecolor="k", label="class 0")
    ax.scatter([0, 1], [1, 0], marker="s", color="k", label="class 1")
    fig.colorbar(image, ax=ax, label="P(class 1)", shrink=0.85)
    fig.suptitle(title, fontsize=9)  # above the axes and the colourbar, never behind them
    ax.legend(fontsize=7, loc="upper center")
    return fig


METHOD_COLORS = {
    "autoneb": "#1f77b4",
    "neb": "#2ca02c",
    "bezier": "#d62728",
    "polychain": "#9467bd",
}


def path_profiles(paths: pd.DataFrame, title: str = "", max_pairs: int = 24):
    """One small panel per pair of minima, each on its own loss scale (barriers differ by orders of
    magnitude): the loss along every method's path and along the straight line (dashed), against the
    position along the path (fraction of its length).

    Args:
        paths: paths.parquet's rows.
        title: the figure's title.
        max_pairs: the most pairs drawn.

    Returns:
        The figure.
    """
    pairs = paths[["a", "b"]].drop_duplicates().head(max_pairs)
    n = len(pairs)
    fig, axes = pair_panels(n)
    for ax, (a, b) in zip(axes.flat, pairs.itertuples(index=False)):
        chosen = paths[(paths.a == a) & (paths.b == b)]
        line = np.asarray(chosen.line_losses.iloc[0])
        ax.plot(
            np.linspace(0, 1, len(line)), line, color="#777", ls="--", lw=1, label="straight line"
        )
        for row in chosen.itertuples():
            ax.plot(
                np.asarray(row.position),
                np.asarray(row.dense_losses),
                lw=1.4,
                color=METHOD_COLORS.get(row.method, "k"),
                label=row.method,
            )
        failed = chosen.failed.fillna(False).astype(bool) if "failed" in chosen else chosen.a < 0
        if failed.any():
            which = ", ".join(chosen.method[failed])
            ax.set_title(f"minima {a}-{b}: {which} search FAILED", fontsize=9, color="firebrick")
        else:
            ax.set_title(f"minima {a}-{b}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False)
    total = len(paths[["a", "b"]].drop_duplicates())
    return finish_panels(
        fig, axes, n=n, total=total, title=f"Loss along the paths{': ' * bool(title)}{title}"
    )


def pair_panels(n: int):
    """One small panel per pair of minima, at most four a row.

    Args:
        n: the pairs.

    Returns:
        (figure, axes [rows, cols]).
    """
    cols = min(4, max(n, 1))
    rows = -(-max(n, 1) // cols)
    return plt.subplots(
        rows, cols, figsize=(3.2 * cols, 2.5 * rows + 0.8), squeeze=False, constrained_layout=True
    )


def finish_panels(fig, axes, *, n: int, total: int, title: str):
    """The panels of ``pair_panels`` with their unused ones off, the legend in the first, the common
    axis labels and the title (saying when only the first n of ``total`` pairs show).

    Args:
        fig: the figure.
        axes: its axes.
        n: the pairs drawn.
        total: the pairs there are.
        title: the title.

    Returns:
        The figure.
    """
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.supxlabel("position along the path (fraction of its length)", fontsize=9)
    fig.supylabel("training loss (nats)", fontsize=9)
    more = f" (first {n} of {total} pairs)" if n < total else ""
    fig.suptitle(f"{title}{more}", fontsize=10)
    return fig


ALIGNMENTS = {"": "as found", "weight_matched_": "weights", "activation_matched_": "activations"}


def alignment_profiles(aligned: pd.DataFrame, title: str = "", max_pairs: int = 24):
    """One panel per pair of minima: the loss along the straight line (dashed) and along each
    method's path between the minima as found (grey) and after matching the second to the first (by
    weights: blue; by activations: green, lines only), against the position along the path.

    Args:
        aligned: alignment.parquet's rows.
        title: the figure's title.
        max_pairs: the most pairs drawn.

    Returns:
        The figure.
    """
    shown = aligned.head(max_pairs)
    n = len(shown)
    fig, axes = pair_panels(n)
    colours = {"": "#777", "weight_matched_": "#1f77b4", "activation_matched_": "#2ca02c"}
    keys = [c[: -len("_losses")] for c in aligned if c.endswith("_losses")]
    styles = {"line": "--"}  # the methods: solid, dash-dotted, dotted in their order
    for ax, row in zip(axes.flat, shown.to_dict("records")):
        for key in keys:
            prefix = next(p for p in sorted(ALIGNMENTS, key=len, reverse=True) if key.startswith(p))
            name = key[len(prefix) :]
            style = styles.setdefault(name, ("-", "-.", ":")[min(len(styles) - 1, 2)])
            ax.plot(
                np.asarray(row[key + "_position"]),
                np.asarray(row[key + "_losses"]),
                color=colours[prefix],
                ls=style,
                lw=1 if name == "line" else 1.4,
                label=f"{name.replace('line', 'straight line')} ({ALIGNMENTS[prefix]})",
            )
        ax.set_title(f"minima {row['a']}-{row['b']}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False)
    return finish_panels(
        fig,
        axes,
        n=n,
        total=len(aligned),
        title=f"Paths up to permutation{': ' * bool(title)}{title}",
    )


def alignment_table(aligned: pd.DataFrame) -> pd.DataFrame:
    """Per pair: each path's barrier (straight line and every method) as found and after each
    matching, the distances, and whether each matching moved the second minimum; narrow headers
    ("autoneb, weights": AutoNEB's barrier between weight-matched endpoints). A search's ``failed``
    column is shown only where some search failed.

    Args:
        aligned: alignment.parquet's rows.

    Returns:
        The table.
    """
    short = {"": "", "weight_matched_": ", weights", "activation_matched_": ", activations"}
    table = pd.DataFrame({"a": aligned.a, "b": aligned.b})
    for column in aligned:
        prefix = next(p for p in sorted(ALIGNMENTS, key=len, reverse=True) if column.startswith(p))
        rest, where = column[len(prefix) :], short[prefix]
        if rest.endswith("_barrier"):
            table[rest[: -len("_barrier")] + where] = aligned[column]
        elif rest.endswith("_failed") and aligned[column].any():
            table[f"{rest[: -len('_failed')]} failed{where}"] = aligned[column]
        elif rest in ("distance", "relabelled"):
            table[rest.replace("relabelled", "moved") + where] = aligned[column]
    return table


def comparison_table(paths: pd.DataFrame) -> pd.DataFrame:
    """Per pair: the straight line's barrier and length, then each method's barrier, saddle loss and
    length.

    Args:
        paths: paths.parquet's rows.

    Returns:
        The table.
    """
    first = paths.drop_duplicates(["a", "b"]).set_index(["a", "b"])
    table = pd.DataFrame({"line barrier": first.line_barrier, "line length": first.line_length})
    for method, rows in paths.groupby("method", sort=False):
        rows = rows.set_index(["a", "b"])
        table[f"{method} barrier"] = rows.barrier
        table[f"{method} saddle"] = rows.saddle_loss
        table[f"{method} length"] = rows.length
        if "search" in rows:  # runs before fla.paths.search have no such column
            table[f"{method} search"] = rows.search
    return table.reset_index()


def endpoints_table(summary: dict) -> pd.DataFrame:
    """Where every candidate (walk endpoint, recorded low-gradient point) of a connection run went:
    the minima connected, other minima, the asymptotic basin, non-finite; count and share.

    Args:
        summary: the run's connect.json.

    Returns:
        The table (empty for a run that did not record it).
    """
    went = summary.get("candidates_went")
    total = summary.get("candidates")
    if not went or not total:
        return pd.DataFrame()
    order = ["minima", "other minima (beyond max_minima)", "asymptotic basin", "non-finite"]
    keys = [k for k in order if k in went] + [k for k in went if k not in order]
    rows = [{"went to": k, "candidates": went[k], "share": went[k] / total} for k in keys]
    return pd.DataFrame(rows)


def spanning_tree_figure(minima: pd.DataFrame, tree: pd.DataFrame, title: str = ""):
    """Minima at (rank by loss, loss); the tree's edges drawn between them, labelled with their
    saddle loss.

    Args:
        minima: the minima.
        tree: the tree's edges.
        title: the figure's title.

    Returns:
        The figure.
    """
    rank = minima.loss.rank(method="first").to_numpy() - 1
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for k, edge in enumerate(tree.itertuples()):
        xs, ys = rank[[edge.a, edge.b]], minima.loss.to_numpy()[[edge.a, edge.b]]
        ax.plot(xs, ys, color="#888", lw=1)
        ax.annotate(  # labels staggered above and below their edges, so that none overlap
            f"{edge.saddle_loss:.4g}",
            (xs.mean(), ys.mean()),
            xytext=(0, 7 if k % 2 else -9),
            textcoords="offset points",
            fontsize=6,
            ha="center",
            bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8),
        )
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.scatter(rank, minima.loss, color="#1f77b4", zorder=3)
    for i, (r, loss) in enumerate(zip(rank, minima.loss)):
        ax.annotate(str(i), (r, loss), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("minimum, ordered by loss")
    ax.set_ylabel("training loss (nats)")
    ax.set_title(
        f"Minimum spanning tree of saddle losses (edge labels){': ' + title if title else ''}",
        fontsize=10,
    )
    return fig
